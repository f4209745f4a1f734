#!/usr/bin/env bash
# The Debian packages build, are lintian-clean, install into this machine's
# root, run, and go away again (issue 20).
#
#   install.sh SRCDIR
#
# 1. tools/package builds them into a temporary folder (the source tree gets
#    no file: tools/package builds in a copy; checked: nothing outside build*/
#    is created or changed meanwhile).
# 2. lintian: no error and no warning that is not overridden (with its reason)
#    in debian/*.lintian-overrides.
# 3. apt-get installs the four packages (dpkg -i plus the dependencies, in
#    one step). The machine's own root, not a chroot: a debootstrap of
#    bookworm minbase took 282 s here before installing a single library.
#    The user telemail, /var/lib/telemail (0750), /etc/telemail, the units
#    (not enabled), the man pages (man --warnings) are checked.
# 4. The installed example /etc/telemail/mailgw.yaml (0640 root:telemail)
#    passes check-config as the user telemail; with a demo PKI at the
#    example's paths, the gateway starts as telemail with the installed unit's
#    ExecStartPre and ExecStart command lines; the installed agent, as
#    telemail-agent, collects the example device state, seals it and delivers
#    it over STARTTLS; the gateway stores it.
# 5. remove: every file dpkg -L listed is gone; the data and the users stay.
#    purge: /var/lib/telemail, /var/lib/telemail-agent, /var/spool/
#    telemail-agent, /etc/telemail, the users and groups, dpkg's and
#    deb-systemd-helper's records are gone.
# Needs root. Runs under a lock, so two runs on one machine take turns. It
# purges any telemail package it finds first and whatever it installed at the
# end, however it ends.
set -euo pipefail
src=$(cd "${1:?usage: install.sh SRCDIR}" && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }
[ "$(id -u)" = 0 ] || fail "needs root (dpkg)"
for t in dpkg-buildpackage lintian apt-get setpriv runuser man; do
	command -v $t >/dev/null || fail "$t is missing (tools/debian-packages.txt)"
done

exec 9>/run/lock/telemail-package-test.lock
flock 9

pkgs=(telemail-mailgw telemail-agent telemail-tools telemail-common)
apt_opts=(-y -q -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)
export DEBIAN_FRONTEND=noninteractive
tmp=$(mktemp -d /tmp/tm-package-test.XXXXXX)
gw_pid=
purge_all() {
	local installed=()
	for p in "${pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -qv 'not-installed' && installed+=("$p")
	done
	rm -f /etc/telemail/gw-* /etc/telemail/device-ca.* /etc/telemail/agent/* 2>/dev/null || true
	rmdir /etc/telemail/agent 2>/dev/null || true
	[ ${#installed[@]} -eq 0 ] || apt-get purge "${apt_opts[@]}" "${installed[@]}" >/dev/null
}
cleanup() {
	[ -z "$gw_pid" ] || kill "$gw_pid" 2>/dev/null || true
	[ -z "$gw_pid" ] || wait "$gw_pid" 2>/dev/null || true
	purge_all || true
	rm -rf "$tmp"
}
trap cleanup EXIT
purge_all

step "build (tools/package)"
tree_list() { (cd "$src" && find . \( -path './build*' -o -path './.git' \) -prune -o -newer "$tmp/t0" -print | sort); }
touch "$tmp/t0"
sleep 1
before=$(tree_list)
t0=$SECONDS
"$src/tools/package" "$tmp/out" >/dev/null
echo "built in $((SECONDS - t0)) s: $(cd "$tmp/out" && ls *.deb | tr '\n' ' ')"
after=$(tree_list)
[ "$before" = "$after" ] || fail "tools/package changed the source tree:
$(diff <(echo "$before") <(echo "$after"))"

step "lintian"
lintian --fail-on error,warning --display-level '>=warning' "$tmp"/out/*.changes >"$tmp/lintian.txt" 2>&1 ||
	fail "lintian: $(grep -v 'running with root' "$tmp/lintian.txt")"
grep -E '^[EW]:' "$tmp/lintian.txt" && fail "lintian errors or warnings"
echo "lintian: no errors, no warnings"

step "install"
debs=()
for p in "${pkgs[@]}"; do debs+=("$(ls "$tmp"/out/"$p"_*.deb)"); done
apt-get install "${apt_opts[@]}" --no-install-recommends "${debs[@]}" >"$tmp/apt.log" 2>&1 ||
	fail "apt-get install: $(tail -20 "$tmp/apt.log")"
for p in "${pkgs[@]}"; do dpkg -L "$p" >>"$tmp/files.txt"; done
getent passwd telemail | grep -q ':/var/lib/telemail:/usr/sbin/nologin$' ||
	fail "no system user telemail with home /var/lib/telemail: $(getent passwd telemail)"
[ "$(id -u telemail)" -lt 1000 ] || fail "telemail is not a system user"
getent passwd telemail-agent >/dev/null || fail "no system user telemail-agent"
[ "$(stat -c '%a %U:%G' /var/lib/telemail)" = "750 telemail:telemail" ] ||
	fail "/var/lib/telemail is $(stat -c '%a %U:%G' /var/lib/telemail)"
[ "$(stat -c '%a %U' /var/spool/telemail-agent)" = "750 telemail-agent" ] || fail "/var/spool/telemail-agent"
[ -d /etc/telemail ] || fail "no /etc/telemail"
for u in telemail-mailgw.service telemail-mailgw-purge.timer telemail-agent.service; do
	[ -f /lib/systemd/system/$u ] || fail "$u not installed"
	[ "$(systemctl is-enabled $u 2>/dev/null || true)" = disabled ] ||
		fail "$u is $(systemctl is-enabled $u 2>&1), not disabled"
done
for page in telemail-mailgw.8 telemail-mailgw.yaml.5 telemail-agent.8 telemail-agent.yaml.5 telemail-report.1; do
	f=$(man -w "${page%.*}" 2>/dev/null | grep "/$page" || true)
	[ -n "$f" ] || f=$(man -w -s "${page##*.}" "${page%.*}" 2>/dev/null || true)
	[ -n "$f" ] || fail "man page $page not found"
	w=$(MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)
	[ -z "$w" ] || fail "man --warnings -l $f: $w"
done
echo "users, directories, units (disabled), man pages: ok"

step "the installed example passes check-config as telemail"
ex=/usr/share/doc/telemail/examples
install -m 0640 -o root -g telemail "$ex/mailgw.yaml" /etc/telemail/mailgw.yaml
runuser -u telemail -- telemail-mailgw -c /etc/telemail/mailgw.yaml check-config >"$tmp/check.txt" 2>&1 ||
	fail "check-config on the installed example: $(cat "$tmp/check.txt")"
head -1 "$tmp/check.txt"

step "configure: a demo PKI at the example's paths"
bash "$ex/make-demo-pki.sh" "$tmp/pki" XK100001 >/dev/null 2>&1 || fail "make-demo-pki.sh"
p=$tmp/pki
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
inst() { install -m 0640 -o root -g "$3" "$1" "$2"; }
inst "$p/gw-ec.pem" /etc/telemail/gw-2025.crt telemail
inst "$p/gw-ec.key" /etc/telemail/gw-2025.key telemail
inst "$p/gw-rsa.pem" /etc/telemail/gw-2024.crt telemail
inst "$p/gw-rsa.key" /etc/telemail/gw-2024.key telemail
inst "$p/ca.pem" /etc/telemail/device-ca.pem telemail
inst "$p/crl.pem" /etc/telemail/device-ca.crl telemail
inst "$p/gw-tls.pem" /etc/telemail/gw-tls.pem telemail
inst "$p/gw-tls.key" /etc/telemail/gw-tls.key telemail
# the example, with a free port, the STARTTLS pair for 127.0.0.1, STARTTLS
# required, and no notifications (they would go to mail.example.net)
sed -e "s|^  smtp: 127.0.0.1:2525|  smtp: 127.0.0.1:$port|" \
	-e 's|^    cert: /etc/telemail/gw-2025.crt$|    cert: /etc/telemail/gw-tls.pem|' \
	-e 's|^    key: /etc/telemail/gw-2025.key$|    key: /etc/telemail/gw-tls.key|' \
	-e 's|^  require_tls: false|  require_tls: true|' \
	-e '/^notify:/,$d' "$ex/mailgw.yaml" >"$tmp/mailgw.yaml"
inst "$tmp/mailgw.yaml" /etc/telemail/mailgw.yaml telemail
gw() { runuser -u telemail -- telemail-mailgw -c /etc/telemail/mailgw.yaml "$@"; }
chmod 0755 "$tmp"
install -m 0644 "$p/dev-XK100001.pem" "$tmp/dev.pem"
gw tenant add acme >/dev/null
gw enroll --cert "$tmp/dev.pem" --tenant acme >/dev/null

step "the gateway as telemail, with the unit's command lines"
unit=/lib/systemd/system/telemail-mailgw.service
pre=$(sed -n 's/^ExecStartPre=//p' "$unit")
cmd=$(sed -n 's/^ExecStart=//p' "$unit")
[ "$(sed -n 's/^User=//p' "$unit")" = telemail ] || fail "the unit's User= is not telemail"
as_gw=(setpriv --reuid=telemail --regid=telemail --init-groups --)
# shellcheck disable=SC2086
"${as_gw[@]}" $pre >/dev/null || fail "ExecStartPre ($pre) failed"
# shellcheck disable=SC2086
"${as_gw[@]}" $cmd 2>"$tmp/serve.log" &
gw_pid=$!
for _ in $(seq 100); do
	grep -q 'event=listening' "$tmp/serve.log" && break
	kill -0 "$gw_pid" 2>/dev/null || fail "serve exited: $(cat "$tmp/serve.log")"
	sleep 0.2
done
grep -q "event=listening proto=smtp address=127.0.0.1 port=$port tls=required" "$tmp/serve.log" ||
	fail "serve does not listen: $(cat "$tmp/serve.log")"
[ "$(ps -o user= -p "$gw_pid")" = telemail ] || fail "serve runs as $(ps -o user= -p "$gw_pid")"
echo "listening on 127.0.0.1:$port as telemail"

step "the installed agent, as telemail-agent, delivers a report"
install -d -m 0750 -o root -g telemail-agent /etc/telemail/agent
for f in dev-XK100001.pem dev-XK100001.key ca.pem gw-ec.pem; do inst "$p/$f" /etc/telemail/agent/$f telemail-agent; done
cat >"$tmp/agent.yaml" <<YAML
identity: {certificate: agent/dev-XK100001.pem, key: agent/dev-XK100001.key, mailbox: xk100001@devices.example}
gateway: {mailbox: telemetry@gw.example.net, certificates: [agent/gw-ec.pem]}
smtp: {relays: [{host: 127.0.0.1, port: $port}], ca_file: agent/ca.pem, timeout: 30}
outbox: {directory: /var/spool/telemail-agent}
state_directory: /var/lib/telemail-agent
collectors: [{type: file, path: $ex/device-state.yaml}]
YAML
inst "$tmp/agent.yaml" /etc/telemail/agent.yaml telemail-agent
agent_cmd=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/telemail-agent.service)
[ "$agent_cmd" = "/usr/bin/telemail-agent -c /etc/telemail/agent.yaml run" ] || fail "agent ExecStart: $agent_cmd"
runuser -u telemail-agent -- telemail-agent -c /etc/telemail/agent.yaml check-config >/dev/null ||
	fail "agent check-config"
runuser -u telemail-agent -- telemail-agent -c /etc/telemail/agent.yaml once >"$tmp/agent.log" 2>&1 ||
	fail "telemail-agent once: $(cat "$tmp/agent.log")"
for _ in $(seq 100); do
	grep -q 'outcome=stored' "$tmp/serve.log" && break
	sleep 0.2
done
grep -q 'outcome=stored' "$tmp/serve.log" || fail "no report stored: $(cat "$tmp/serve.log")"
gw devices | grep -q '^XK100001 .*acme' || fail "XK100001 not listed: $(gw devices)"
grep 'outcome=stored' "$tmp/serve.log" | head -1
kill -TERM "$gw_pid"
wait "$gw_pid" || fail "serve exited $? after SIGTERM"
gw_pid=
grep -q 'event=stopped stored=1' "$tmp/serve.log" || fail "serve did not stop cleanly: $(tail -3 "$tmp/serve.log")"

step "remove: the files go, the data and the users stay"
rm -rf /etc/telemail/agent /etc/telemail/gw-* /etc/telemail/device-ca.*
apt-get remove "${apt_opts[@]}" "${pkgs[@]}" >/dev/null 2>&1 || fail "apt-get remove"
left=()
while read -r f; do
	[ -d "$f" ] && continue     # directories shared with other packages stay
	[ -e "$f" ] || [ -L "$f" ] && left+=("$f")
done <"$tmp/files.txt"
[ ${#left[@]} -eq 0 ] || fail "left after remove: ${left[*]}"
[ -f /var/lib/telemail/telemail.db ] || fail "remove deleted the data (/var/lib/telemail/telemail.db)"
getent passwd telemail >/dev/null || fail "remove deleted the user telemail"
echo "removed; /var/lib/telemail and the users kept"

step "purge: nothing left"
apt-get purge "${apt_opts[@]}" "${pkgs[@]}" >/dev/null 2>&1 || fail "apt-get purge"
for d in /var/lib/telemail /var/lib/telemail-agent /var/spool/telemail-agent /etc/telemail; do
	[ ! -e "$d" ] || fail "$d left after purge: $(ls -la "$d")"
done
for u in telemail telemail-agent; do
	getent passwd "$u" >/dev/null && fail "user $u left after purge"
	getent group "$u" >/dev/null && fail "group $u left after purge"
done
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -qv 'not-installed' && fail "$p still known to dpkg"
done
if grep -rl telemail /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked 2>/dev/null; then
	fail "deb-systemd-helper state left"
fi
ls /lib/systemd/system/telemail-* 2>/dev/null && fail "units left"
echo "purged: no directory, user, group, unit or dpkg record left"
echo "package: ok"
