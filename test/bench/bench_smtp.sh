#!/bin/sh
# Benchmark of telemail-mailgw serve (prints figures; asserts nothing).
#   1. durable acceptance: Postfix smtp-source → the gateway (every 250 after
#      the spool's group commit), beside smtp-source → Postfix smtp-sink
#      (which keeps nothing), with 20 and 50 sessions: SMTP_PAIRS (6) pairs
#      of runs back to back, the median of their ratios.
#   2. end to end: real S/MIME messages (a fixture, sent N times: the first
#      is stored, the rest are duplicates after the full open and verify),
#      from the first byte sent to the last record committed; beside
#      `telemail-mailgw replay` of the same N messages (the pipeline alone),
#      and the CPU per message of each of the gateway's threads (by name).
#   3. the same acceptance with the flushes made no-ops (libeatmydata): the
#      spool's own share of the cost.
# usage: bench_smtp.sh MAILGW_BINARY SRCDIR [MESSAGES]
set -eu
BIN=$(realpath "$1") # meson may pass it relative to the build directory; we cd below
SRC=$2
M=${3:-1500}
E2E=${E2E_MESSAGES:-2000}
W=$(mktemp -d /tmp/tmbench.XXXXXX)
SINK_PID= GW_PID=
cleanup() {
	[ -n "$GW_PID" ] && kill -TERM "$GW_PID" 2>/dev/null && wait "$GW_PID" 2>/dev/null || true
	[ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT INT TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
now() { date +%s.%N; }
rate() { python3 -c "import sys; n,a,b=float(sys.argv[1]),float(sys.argv[2]),float(sys.argv[3]); print('%.0f' % (n/(b-a)))" "$@"; }

cp "$SRC/test/eml/mailgw-test.yaml" "$W/mailgw.yaml"
ln -s "$SRC/test/eml/pki" "$W/pki"
printf 'state_dir: state\nworkers: 0\nlisten:\n  smtp: 127.0.0.1:0\n  max_connections: 200\n  max_per_address: 200\nspool:\n  quota_messages: 0\n  quota_bytes: 0\n' >> "$W/mailgw.yaml"
# the daemon's defaults, as bench_replay: one worker per core, store batches of
# 64 (the fixture's 1 worker and batches of 16 are there to exercise the tests)
sed -i -e 's/^workers: 1$//' -e '/^  batch_size: 16$/d' "$W/mailgw.yaml"
(cd "$W" && grep -v '^#' "$SRC/test/eml/registry.setup" | grep . | while read -r l; do
	"$BIN" -c mailgw.yaml $l >/dev/null; done)
(cd "$W" && exec "$BIN" -c mailgw.yaml serve 2>"$W/serve.log") &
GW_PID=$!
i=0
while ! grep -q 'event=listening proto=smtp' "$W/serve.log" 2>/dev/null; do
	i=$((i + 1)); [ $i -lt 200 ] || { echo "gateway did not start"; cat "$W/serve.log"; exit 1; }
	sleep 0.05
done
GW_PORT=$(sed -n 's/.*event=listening proto=smtp .*port=\([0-9]*\).*/\1/p' "$W/serve.log")
SINK_PORT=$(free_port)
/usr/sbin/smtp-sink -u nobody 127.0.0.1:"$SINK_PORT" 256 &
SINK_PID=$!
sleep 0.3

PAIRS=${SMTP_PAIRS:-6}
echo "bench_smtp: $M messages of 1 KiB per run, loopback, $(nproc) cores"
# One smtp-source run: its rate.
run_rate() { # port
	t0=$(now); /usr/sbin/smtp-source -s "$S" -m "$M" -l 1024 -t telemail@gateway.example 127.0.0.1:"$1"; t1=$(now)
	rate "$M" "$t0" "$t1"
}
median() { python3 -c 'import sys, statistics; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
# PAIRS pairs, each a run against smtp-sink and one against the gateway back
# to back; the ratio of each pair, and the median of those. The speed of a
# shared VM (and of its disk's flushes) drifts by tens of percent within
# seconds: a pair sees one state of the machine, the median of several pairs
# is not decided by one slow or fast spell.
for S in 20 50; do
	sinks= gws= ratios=
	for _ in $(seq "$PAIRS"); do
		sk=$(run_rate "$SINK_PORT")
		g=$(run_rate "$GW_PORT")
		sinks="$sinks $sk" gws="$gws $g"
		ratios="$ratios $(python3 -c "print('%.2f' % ($g / $sk))")"
	done
	printf '  sessions=%s smtp-sink=%.0f/s telemail-mailgw (durable)=%.0f/s ratio=%.2f (median of %s pairs:%s)\n' \
		"$S" "$(median $sinks)" "$(median $gws)" "$(median $ratios)" "$PAIRS" "$ratios"
done
rounds=$(sed -n 's/^spool_commit_rounds=//p' "$W/state/mailgw.status")
acc=$(sed -n 's/^messages_accepted=//p' "$W/state/mailgw.status")
echo "  spool group commit: $acc messages in $rounds commit rounds"

# let the junk of part 1 drain through the pipeline (quarantined)
i=0
while [ "$(sed -n 's/^spool_messages=//p' "$W/state/mailgw.status")" != 0 ] && [ $i -lt 1200 ]; do
	sleep 0.1; i=$((i + 1)); done

FIX="$SRC/test/eml/replay/01-ec-opaque.eml"
# CPU ticks of the daemon's threads, summed by name (tm-spool, tm-worker,
# tm-writer ...; the listener is the main thread)
cpu_by_thread() {
	for t in /proc/"$GW_PID"/task/*; do
		echo "$(cat "$t/comm") $(awk '{print $14 + $15}' "$t/stat")"
	done | awk '{a[$1] += $2} END {for (k in a) print k, a[k]}' | sort
}
# outcomes are counted from the daemon's log, one line per committed message
outcomes() { grep -c 'gw message qid=.* outcome=\(stored\|duplicate\)' "$W/serve.log" || true; }
base=$(outcomes)
cpu_by_thread > "$W/cpu0"
t0=$(now)
/usr/bin/time -o "$W/sender.time" -f '%U %S' \
	python3 "$SRC/test/bench/bench_smtp.py" 127.0.0.1 "$GW_PORT" "$FIX" "$E2E" 20 > "$W/e2e.out"
i=0
while :; do
	[ $(($(outcomes) - base)) -ge "$E2E" ] && break
	i=$((i + 1)); [ $i -lt 6000 ] || break
	sleep 0.02
done
t1=$(now)
e2e=$(rate "$E2E" "$t0" "$t1")
echo "  end to end (S/MIME open + verify + store, 20 sessions): $E2E messages, ${e2e}/s"
cpu_by_thread > "$W/cpu1"
# where the CPU of end to end went, per message (clock ticks of 10 ms)
python3 - "$W/cpu0" "$W/cpu1" "$W/sender.time" "$E2E" <<'PY'
import sys
def load(p):
    return {k: int(v) for k, v in (l.split() for l in open(p) if l.strip())}
a, b = load(sys.argv[1]), load(sys.argv[2])
n = int(sys.argv[4])
ms = {k: (b.get(k, 0) - a.get(k, 0)) * 10.0 / n for k in b}
sender = sum(float(x) for x in open(sys.argv[3]).read().split()) * 1000 / n
listener = ms.get('telemail-mailgw', 0.0)
spool = ms.get('tm-spool', 0.0)
pipeline = ms.get('tm-worker', 0.0) + ms.get('tm-writer', 0.0)
total = listener + spool + pipeline
print('  CPU per message end to end: pipeline (open, verify, store) %.2f ms, listener %.2f ms,'
      ' spool %.2f ms; the sender (Python) %.2f ms' % (pipeline, listener, spool, sender))
if total > 0:
    print('  the pipeline is %.0f%% of the gateway\'s CPU, the spool %.0f%%'
          % (100 * pipeline / total, 100 * spool / total))
PY
mkdir -p "$W/rp" "$W/rstate"
i=0; while [ $i -lt "$E2E" ]; do ln -s "$FIX" "$W/rp/m$i.eml"; i=$((i + 1)); done
sed 's/^state_dir: state$/state_dir: rstate/' "$W/mailgw.yaml" > "$W/replay.yaml"
(cd "$W" && grep -v '^#' "$SRC/test/eml/registry.setup" | grep . | while read -r l; do
	"$BIN" -c replay.yaml $l >/dev/null; done)
t0=$(now); (cd "$W" && "$BIN" -c replay.yaml replay rp >/dev/null 2>&1 || true); t1=$(now)
rp=$(rate "$E2E" "$t0" "$t1")
echo "  pipeline alone (replay of the same $E2E files): ${rp}/s; end to end / pipeline = $(python3 -c "print('%.2f' % ($e2e / $rp))")"

# 3. the spool's own share: the same acceptance by a second gateway whose
#    flushes are turned into no-ops (libeatmydata, Debian package eatmydata).
#    Not durable, so never a setting; it shows how much of the gap to
#    smtp-sink is the disk and how much is the rest of the daemon.
EMD=/usr/lib/x86_64-linux-gnu/libeatmydata.so
if [ -f "$EMD" ]; then
	kill -TERM "$GW_PID" 2>/dev/null && wait "$GW_PID" 2>/dev/null || true
	sed 's/^state_dir: state$/state_dir: nstate/' "$W/mailgw.yaml" > "$W/noflush.yaml"
	(cd "$W" && grep -v '^#' "$SRC/test/eml/registry.setup" | grep . | while read -r l; do
		"$BIN" -c noflush.yaml $l >/dev/null; done)
	(cd "$W" && LD_PRELOAD=$EMD exec "$BIN" -c noflush.yaml serve 2>"$W/noflush.log") &
	GW_PID=$!
	i=0
	while ! grep -q 'event=listening proto=smtp' "$W/noflush.log" 2>/dev/null; do
		i=$((i + 1)); [ $i -lt 200 ] || { echo "gateway did not start"; exit 1; }
		sleep 0.05
	done
	NF_PORT=$(sed -n 's/.*event=listening proto=smtp .*port=\([0-9]*\).*/\1/p' "$W/noflush.log")
	for S in 20 50; do
		nfs=
		for _ in 1 2 3; do nfs="$nfs $(run_rate "$NF_PORT")"; done
		printf '  sessions=%s without flushes (libeatmydata, not durable)=%.0f/s (median of 3)\n' \
			"$S" "$(median $nfs)"
	done
fi
