#!/bin/sh
# pg_fixture.sh CMD [ARG...]: run CMD with a PostgreSQL server of its own.
#
# initdb and pg_ctl in a fresh temporary directory, the server listening
# only on a unix socket there (listen_addresses=''), no durability (fsync
# off: a test database is thrown away), then CMD with TM_TEST_BACKEND=
# postgresql and TM_PG_HOST (the socket directory) and TM_PG_USER in its
# environment; the server is stopped and the directory removed however CMD
# ends. A test that stops and starts the server itself (the fault tests of
# several gateways) finds TM_PG_DATA (the data directory) and TM_PG_CTL (a
# script: `$TM_PG_CTL stop -m immediate`, `$TM_PG_CTL start`, with this
# fixture's options and user) in its environment too.
# PostgreSQL refuses to run as root: as root (CI) the server runs as
# the unprivileged user postgres (runuser) in a directory that user owns.
# The server binaries: $PG_BINDIR, else the newest /usr/lib/postgresql/*/bin.
set -eu

bindir=${PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
	echo "pg_fixture: no PostgreSQL server binaries (Debian: postgresql)" >&2
	exit 77
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/tm-pg.XXXXXX")
as=""
user=$(id -un)
if [ "$(id -u)" = 0 ]; then
	as="runuser -u postgres --"
	user=postgres
	chown postgres: "$dir"
	chmod 0755 "$dir"
fi

stop() {
	$as "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT TERM

$as "$bindir/initdb" -D "$dir/data" -U "$user" --auth=trust --no-locale -E UTF8 \
	>"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
# pg_ctl with this server's directory, log and options, as its user
cat >"$dir/pg_ctl" <<PGCTL
#!/bin/sh
exec $as "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \\
	-o "-c listen_addresses='' -c unix_socket_directories='$dir' -c fsync=off \\
	    -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 \\
	    -c shared_buffers=32MB" "\$@"
PGCTL
chmod 0755 "$dir/pg_ctl"
"$dir/pg_ctl" start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }

rc=0
TM_TEST_BACKEND=postgresql TM_PG_HOST=$dir TM_PG_USER=$user TM_PG_DATA=$dir/data \
	TM_PG_CTL=$dir/pg_ctl "$@" || rc=$?
if [ "$rc" != 0 ] && [ -n "${TM_PG_SHOW_LOG:-}" ]; then
	tail -n 50 "$dir/server.log" >&2
fi
exit $rc
