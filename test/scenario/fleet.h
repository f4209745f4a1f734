/* A simulated fleet over 2026-08-01 .. 2026-11-15, one report a day per
 * device at 06:00Z, and the daemon's silence check every day at 12:00Z.
 *
 *   tenant acme ── acme-hq
 *   D1 (acme-hq)  total = 10000 + 120 d, mono = 8000 + 100 d; black toner
 *                 60 - d %, low at 10 % (d = 50), replaced on d = 55 (100 %),
 *                 then 100 - (d - 55) %
 *   D2 (acme-hq)  total = 50000 + 200 d; an outage d = 40..49 (no reports);
 *                 a board swap on d = 75: total = 50 + 200 (d - 75)
 *   D3 (acme)     total = 7000 + 50 d; silent after d = 80 (2026-10-20)
 *   D4 (acme-hq)  enrolled before, first report d = 70 (2026-10-10):
 *                 total = 300 + 10 (d - 70)
 *
 * d = day index, 0 = 2026-08-01. Day boundaries: 2026-09-01 is d = 31,
 * 2026-10-01 d = 61, 2026-11-01 d = 92. */
#ifndef TM_TEST_SCENARIO_FLEET_H
#define TM_TEST_SCENARIO_FLEET_H

#include "ingest.h"

#define FLEET_DAY0 1785564000   /* 2026-08-01T06:00:00Z */
#define FLEET_DAYS 107          /* through 2026-11-15 */
#define FLEET_DAY 86400

static inline int64_t fleet_at(int d)
{
	return FLEET_DAY0 + (int64_t)d * FLEET_DAY;
}

/* Fill the report device `dev` (1..4) sends on day d; false when it sends none. */
static inline bool fleet_report(int dev, int d, struct sc_report *r, const char **tenant)
{
	static const char *const serials[] = { "", "D1", "D2", "D3", "D4" };
	static long long seq[5];
	if (d == 0 && dev == 1)   /* a new replay: call with dev 1 first on day 0 */
		memset(seq, 0, sizeof(seq));
	*tenant = dev == 3 ? "acme" : "acme-hq";
	switch (dev) {
	case 1:
		sc_report_init(r, serials[dev], ++seq[dev], fleet_at(d));
		r->total = 10000 + 120 * d;
		r->mono = 8000 + 100 * d;
		r->supplies[0] = (struct sc_supply){ 1, "toner", "black", d < 55 ? 60 - d : 100 - (d - 55), 100 };
		return true;
	case 2:
		if (d >= 40 && d <= 49)
			return false;
		sc_report_init(r, serials[dev], ++seq[dev], fleet_at(d));
		r->total = d < 75 ? 50000 + 200 * d : 50 + 200 * (d - 75);
		return true;
	case 3:
		if (d > 80)
			return false;
		sc_report_init(r, serials[dev], ++seq[dev], fleet_at(d));
		r->total = 7000 + 50 * d;
		return true;
	case 4:
		if (d < 70)
			return false;
		sc_report_init(r, serials[dev], ++seq[dev], fleet_at(d));
		r->total = 300 + 10 * (d - 70);
		return true;
	default:
		return false;
	}
}

#endif
