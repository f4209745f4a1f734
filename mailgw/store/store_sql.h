/* telemail-mailgw — SQL text both back ends run (version N is the same
 * tables in both). Placeholders are $1, $2 …: PostgreSQL's, and SQLite
 * reads them as parameters numbered in the order they first appear. Only
 * the back ends (store/sqlite/, store/postgresql/) include this. */
#ifndef GW_STORE_SQL_H
#define GW_STORE_SQL_H

/* meter_range (gw_store_meter_range), $1 since, $2 until: the period's
 * readings, and for each device and counter among them or in the device's
 * last report at or before since, its last reading then: one index seek per
 * device and counter (CROSS JOIN: SQLite walks the devices, each one's reports
 * of the period by the report-time index, then their counters, instead of
 * scanning every counter). excluded: a condition on r (reports) and c (counters)
 * that leaves out a reading an operator excluded ("" when the back end
 * keeps no decisions); head and tail wrap the result for the ORDER BY
 * (serial, service, name, time, seq). */
#define GW_SQL_METER_RANGE(excluded, head, tail)                                             \
	head "WITH inp AS (SELECT r.serial, r.tenant, r.seq, r.generated_unix AS gu,"       \
	" c.service, c.name, c.value, r.generated_nsec AS gn"                               \
	" FROM devices d CROSS JOIN reports r CROSS JOIN counters c WHERE r.serial = d.serial" \
	" AND (r.generated_unix > $1 OR (r.generated_unix = $1 AND r.generated_nsec > 0))"  \
	" AND (r.generated_unix < $2 OR (r.generated_unix = $2 AND r.generated_nsec = 0))"  \
	" AND c.report = r.id),"                                                            \
	" last AS (SELECT (SELECT r.id FROM reports r WHERE r.serial = d.serial"            \
	" AND (r.generated_unix < $1 OR (r.generated_unix = $1 AND r.generated_nsec = 0))"  \
	" ORDER BY r.generated_unix DESC, r.generated_nsec DESC, r.seq DESC LIMIT 1) AS id" \
	" FROM devices d),"                                                                 \
	" pairs AS (SELECT serial, service, name FROM inp UNION SELECT r.serial, c.service," \
	" c.name FROM last l JOIN reports r ON r.id = l.id JOIN counters c ON c.report = r.id)," \
	" open AS (SELECT p.service, p.name, (SELECT r.id FROM reports r JOIN counters c"   \
	" ON c.report = r.id AND c.service = p.service AND c.name = p.name"                 \
	" WHERE r.serial = p.serial"                                                        \
	" AND (r.generated_unix < $1 OR (r.generated_unix = $1 AND r.generated_nsec = 0))"  \
	excluded                                                                            \
	" ORDER BY r.generated_unix DESC, r.generated_nsec DESC, r.seq DESC LIMIT 1) AS id" \
	" FROM pairs p)"                                                                    \
	" SELECT serial, tenant, seq, gu, service, name, value, gn FROM inp UNION ALL"      \
	" SELECT r.serial, r.tenant, r.seq, r.generated_unix, c.service, c.name, c.value,"  \
	" r.generated_nsec FROM open o JOIN reports r ON r.id = o.id JOIN counters c"       \
	" ON c.report = o.id AND c.service = o.service AND c.name = o.name" tail

#endif
