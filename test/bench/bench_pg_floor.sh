#!/bin/sh
# Benchmark (issue 16): what the PostgreSQL server's work costs on this
# machine, apart from telemail: its CPU for a round trip, a statement in a
# pipeline, and a row, measured with pgbench (prepared statements, one
# client) against the server of test/pg_fixture.sh.
#
#   test/pg_fixture.sh sh test/bench/bench_pg_floor.sh [TRANSACTIONS]
#
# Each case runs TRANSACTIONS (default 4000) transactions; the figure is the
# server's CPU (the postmaster's and its children's, /proc) over the run,
# per transaction. A stored report costs, in the replay, a number of each
# (docs/benchmarks-postgresql.md, "The server's floor"): these figures turn
# those counts into the server's least CPU a report, whatever the client
# does. Prints figures; asserts nothing; 77 without the server's tools.
set -eu

n=${1:-4000}
: "${TM_PG_HOST:?run under test/pg_fixture.sh}"
: "${TM_PG_DATA:?run under test/pg_fixture.sh}"
bindir=${PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
if [ -z "$bindir" ] || [ ! -x "$bindir/pgbench" ]; then
	echo "bench_pg_floor: no pgbench (Debian: postgresql-contrib or postgresql)" >&2
	exit 77
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/tm-pgfloor.XXXXXX")
trap 'rm -rf "$dir"' EXIT
chmod 0755 "$dir"
db=bench_floor
psql() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$TM_PG_HOST" -U "$TM_PG_USER" "$@"; }
psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" 2>/dev/null
# a table shaped like a report's counters (schema version 12)
psql -d $db -c "CREATE TABLE c (report bigint NOT NULL, service text NOT NULL,
	name text NOT NULL, value bigint NOT NULL, unit text,
	PRIMARY KEY (report, service, name))"

tck=$(getconf CLK_TCK)
# the server's CPU so far, in clock ticks: the postmaster with its reaped
# children (the sessions that ended), and the children alive
server_ticks() {
	pm=$(head -n 1 "$TM_PG_DATA/postmaster.pid")
	{
		awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pm/stat"
		for c in $(pgrep -P "$pm"); do
			awk '{ print $14 + $15 }' "/proc/$c/stat" 2>/dev/null || true
		done
	} | awk '{ s += $1 } END { print s }'
}

rows18() {   # the 18 rows of a report's counters, for report :r
	i=0
	while [ $i -lt 18 ]; do
		[ $i -gt 0 ] && printf ', '
		printf "(:r, 'total', 'n%d', %d, NULL)" $i $i
		i=$((i + 1))
	done
}
repeat() {   # repeat COUNT LINE
	i=0
	while [ $i -lt "$1" ]; do echo "$2"; i=$((i + 1)); done
}

{ printf '%s\n' '\startpipeline'; echo 'SELECT 1;'; printf '%s\n' '\endpipeline'; } >"$dir/trip.sql"
{ printf '%s\n' '\startpipeline'; repeat 20 'SELECT 1;'; printf '%s\n' '\endpipeline'; } >"$dir/stmts.sql"
{
	printf '%s\n' '\set r random(1, 1000000000000)'
	printf '%s\n' '\startpipeline'; echo 'BEGIN;'
	i=0
	while [ $i -lt 18 ]; do
		echo "INSERT INTO c (report, service, name, value, unit) VALUES (:r, 'total', 'n$i', $i, NULL);"
		i=$((i + 1))
	done
	echo 'COMMIT;'; printf '%s\n' '\endpipeline'
} >"$dir/inserts.sql"
{
	printf '%s\n' '\set r random(1, 1000000000000)'
	printf '%s\n' '\startpipeline'; echo 'BEGIN;'
	echo "INSERT INTO c (report, service, name, value, unit) VALUES $(rows18);"
	echo 'COMMIT;'; printf '%s\n' '\endpipeline'
} >"$dir/rows.sql"
{
	printf '%s\n' '\startpipeline'; echo 'BEGIN;'; echo 'COMMIT;'; printf '%s\n' '\endpipeline'
} >"$dir/tx.sql"

us() {   # us CASE: the server's CPU a transaction of CASE, in microseconds
	t0=$(server_ticks)
	"$bindir/pgbench" -n -M prepared -h "$TM_PG_HOST" -U "$TM_PG_USER" -t "$n" \
		-f "$dir/$1.sql" $db >"$dir/$1.out" 2>&1 || { cat "$dir/$1.out" >&2; exit 1; }
	sleep 0.2   # the session's CPU is counted once the postmaster reaped it
	t1=$(server_ticks)
	echo $(( (t1 - t0) * 1000000 / tck / n ))
}

trip=$(us trip)
stmts=$(us stmts)
tx=$(us tx)
inserts=$(us inserts)
rows=$(us rows)
echo "bench_pg_floor: the server's CPU, $n transactions a case, one pgbench client (prepared, pipelined)"
printf '  %-58s %6s us\n' "a round trip (one SELECT 1 in a pipeline)" "$trip"
printf '  %-58s %6s us\n' "20 SELECT 1 in one pipeline" "$stmts"
printf '  %-58s %6s us\n' "BEGIN and COMMIT in one pipeline" "$tx"
printf '  %-58s %6s us\n' "18 one-row INSERTs (a report's counters) in a transaction" "$inserts"
printf '  %-58s %6s us\n' "one 18-row INSERT in a transaction" "$rows"
stmt=$(( (stmts - trip) / 19 ))
row=$(( (rows - tx) / 18 ))
ins=$(( (inserts - tx) / 18 ))
echo "  so: a round trip ~$trip us, a statement more in a pipe ~$stmt us,"
echo "      a row of an 18-row INSERT ~$row us, a one-row INSERT ~$ins us"
psql -d postgres -c "DROP DATABASE $db"
