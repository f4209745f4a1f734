#!/bin/sh
# Benchmark of telemail-agent (prints figures and goals; asserts nothing).
#   1. per report CPU (user + sys, the agent and its SMTP child) of
#      `telemail-agent once` — collect a device-state snapshot, build, check,
#      sign, encrypt, queue durably, send to Postfix smtp-sink — over N runs;
#   2. peak RSS of `once`;
#   3. the stripped size of the binary (shared libraries not counted);
#   4. beside it, the same job done the way an administrator would script it:
#      `openssl cms -sign` | `openssl cms -encrypt -aes-256-gcm` piped into a
#      stock SMTP client (swaks --data) against the same smtp-sink, N runs.
# Goals printed with the figures: RSS <= 8 MB, binary <= 200 KB, and at
# least 10x less CPU per report than the script.
# usage: bench_agent.sh AGENT_BINARY SRCDIR PKIDIR [RUNS]
set -eu
BIN=$(readlink -f "$1")
SRC=$2
PKI=$3
N=${4:-50}
W=$(mktemp -d /tmp/tmbench-agent.XXXXXX)
chmod 755 "$W"
SERVERS="$SRC/test/agent/servers.py"
cleanup() {
	/usr/bin/python3 "$SERVERS" stop "$W/sink" >/dev/null 2>&1 || true
	rm -rf "$W"
}
trap cleanup EXIT INT TERM

/usr/bin/python3 "$SERVERS" sink "$W/sink"
PORT=$(cat "$W/sink/port")
cp "$SRC/examples/device-state.yaml" "$W/state.yaml"
cat > "$W/agent.yaml" <<EOF
identity: {certificate: $PKI/dev-XK100001.pem, key: $PKI/dev-XK100001.key, mailbox: xk100001@devices.example}
gateway: {mailbox: telemail@gateway.example, certificates: [$PKI/gw-ec.pem]}
smtp: {relays: [{host: 127.0.0.1, port: $PORT}], starttls: false, plain: true, timeout: 30}
outbox: {directory: outbox}
state_directory: state
collectors: [{type: file, path: state.yaml}]
EOF
"$BIN" -c "$W/agent.yaml" show > "$W/report.yaml"
printf 'Content-Type: application/yaml\r\n\r\n' > "$W/part.txt"
cat "$W/report.yaml" >> "$W/part.txt"

# CPU of N runs of a command per run, children included (getrusage).
measure() {
	/usr/bin/python3 - "$N" "$@" <<'PY'
import resource, subprocess, sys
n = int(sys.argv[1]); cmd = sys.argv[2]
for _ in range(n):
    if subprocess.run(cmd, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
        print("FAILED: " + cmd, file=sys.stderr); sys.exit(1)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%.3f" % ((r.ru_utime + r.ru_stime) * 1000.0 / n))
PY
}
measure1() {
	/usr/bin/python3 - 1 "$@" <<'PY'
import resource, subprocess, sys
cmd = sys.argv[2]
if subprocess.run(cmd, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
    print("FAILED: " + cmd, file=sys.stderr); sys.exit(1)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%.3f" % ((r.ru_utime + r.ru_stime) * 1000.0))
PY
}

set -- $(measure "cd '$W' && '$BIN' -c agent.yaml once")
AG_MS=$1
SENT=$(ls "$W/sink/mail" | wc -l)
# peak RSS from /usr/bin/time (getrusage in Python would count the
# interpreter's own pages in the child before exec)
AG_RSS_KB=0
for i in 1 2 3; do
	R=$(cd "$W" && /usr/bin/time -f %M "$BIN" -c agent.yaml once 2>&1 >/dev/null | tail -1)
	[ "$R" -gt "$AG_RSS_KB" ] && AG_RSS_KB=$R
done

# warm: N devices in one process (the collector role; what `run` does each
# period), so start-up, keys and schema are paid once for N reports
mkdir -p "$W/warm"
{
	sed -e 's/^collectors:.*//' -e 's/^identity: {/identity: {role: collector, /' \
	    -e 's/^outbox:.*/outbox: {directory: warm\/outbox}/' -e 's/^state_directory:.*/state_directory: warm\/state/' \
	    -e 's/timeout: 30}/timeout: 30, batch: 64}/' "$W/agent.yaml"
	echo "collectors:"
	i=0
	while [ $i -lt "$N" ]; do
		sed "s/serial: \"XK100001\"/serial: \"XW$(printf %06d $i)\"/; s/serial: XK100001/serial: XW$(printf %06d $i)/" \
			"$W/state.yaml" > "$W/warm/s$i.yaml"
		echo "  - {type: file, path: warm/s$i.yaml}"
		i=$((i + 1))
	done
} > "$W/warm.yaml"
set -- $(N=1 measure1 "cd '$W' && '$BIN' -c warm.yaml once")
WARM_SENT=$(($(ls "$W/sink/mail" | wc -l) - SENT - 3))
WARM_MS=$(/usr/bin/python3 -c "import sys; print('%.3f' % (float(sys.argv[1]) / int(sys.argv[2])))" "$1" "$N")
WARM_RSS_KB=$(cd "$W" && /usr/bin/time -f %M "$BIN" -c warm.yaml once 2>&1 >/dev/null | tail -1)

SCRIPT="cd '$W' && openssl cms -sign -signer '$PKI/dev-XK100001.pem' -inkey '$PKI/dev-XK100001.key' -in part.txt -nodetach -binary | openssl cms -encrypt -aes-256-gcm '$PKI/gw-ec.pem' > msg.eml && swaks --silent 2 --server 127.0.0.1:$PORT --from xk100001@devices.example --to telemail@gateway.example --data msg.eml"
set -- $(measure "$SCRIPT")
SC_MS=$1

cp "$BIN" "$W/agent.stripped"
strip "$W/agent.stripped"
SIZE=$(stat -c %s "$W/agent.stripped")

/usr/bin/python3 - "$N" "$AG_MS" "$AG_RSS_KB" "$SC_MS" "$SIZE" "$SENT" "$WARM_MS" "$WARM_RSS_KB" "$WARM_SENT" <<'PY'
import sys
n, ag, rss, sc, size, sent = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
warm, wrss, wsent = float(sys.argv[7]), int(sys.argv[8]), int(sys.argv[9])
def goal(ok): return "OK" if ok else "MISSED"
print("telemail-agent benchmark, %d reports each way (cold: %d reached smtp-sink; warm: %d)" % (n, sent, wsent))
print("  agent cold: one `once` process per report      CPU/report %8.2f ms" % ag)
print("  agent warm: %4d devices in one `once`          CPU/report %8.2f ms" % (n, warm))
print("  script: openssl sign | openssl encrypt | swaks  CPU/report %8.2f ms" % sc)
print("  ratio script/agent, cold                        %8.1fx    goal >= 10x    %s" % (sc / ag, goal(sc / ag >= 10)))
print("  ratio script/agent, warm                        %8.1fx    goal >= 10x    %s" % (sc / warm, goal(sc / warm >= 10)))
print("  peak RSS of once, one report                    %8.2f MB   goal <= 8 MB   %s" % (rss / 1024.0, goal(rss <= 8 * 1024)))
print("  peak RSS of once, %4d devices                  %8.2f MB" % (n, wrss / 1024.0))
print("  stripped binary (no shared libraries)           %8.1f KB   goal <= 200 KB %s" % (size / 1024.0, goal(size <= 200 * 1024)))
PY
