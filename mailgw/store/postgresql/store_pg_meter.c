/* telemail-mailgw — the PostgreSQL back end's meter readings: every one up
 * to a time and the latest (meter_list, `meters`), and a billing period's
 * (meter_range, issue 16).
 *
 * A period's readings come from each report's counters packed in its own
 * row (reports.meters, schema v15; written by the put, store_pg_put.c): the
 * period's reports read in one statement, device by device in time order,
 * without joining the counters. Joined, the counters cost PostgreSQL an
 * index probe per report, and a year of 1,000 devices 6.4-7.2 s a month's
 * billing; the packed form sends a fifth of the rows and joins nothing.
 *
 * The openings (each counter's last reading at or before `since`, not one an
 * operator excluded) come from the same read: it starts OPENING_LOOKBACK
 * before since, and the last reading of each counter there is the opening.
 * A device silent for all that time, or a counter with no reading there,
 * asks for its own (one indexed statement each, on the same transaction:
 * the read is a cursor fetched in slices, so that other statements can run
 * between the slices).
 *
 * The meter check's neighbours of a report's counters come from the
 * neighbouring report's packed counters too (gw_pg_meter_adjacent_many). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/array.h>
#include <telemail/buf.h>
#include <telemail/error.h>

#include "store/postgresql/store_pg.h"

/* ---- a report's counters packed: "service name value" a line ---- */

static int add_escaped(struct tm_buf *b, const char *s)
{
	int rc = 0;
	for (const char *p = s; rc == 0 && *p != '\0'; p++) {
		if (*p == '%')
			rc = tm_buf_append_str(b, "%25");
		else if (*p == ' ')
			rc = tm_buf_append_str(b, "%20");
		else if (*p == '\n')
			rc = tm_buf_append_str(b, "%0A");
		else
			rc = tm_buf_append(b, p, 1);
	}
	return rc;
}

int gw_pg_meters_add(struct tm_buf *b, const char *service, const char *name, int64_t value)
{
	int rc = b->len > 0 ? tm_buf_append_str(b, "\n") : 0;
	if (rc == 0)
		rc = add_escaped(b, service);
	if (rc == 0)
		rc = tm_buf_append_str(b, " ");
	if (rc == 0)
		rc = add_escaped(b, name);
	if (rc == 0)
		rc = tm_buf_printf(b, " %" PRId64, value);
	return rc;
}

static int hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* One word of *p up to a space (unescaped into out); false: malformed or
 * too long. */
static bool take_word(const char **p, char *out, size_t cap)
{
	size_t n = 0;
	const char *s = *p;
	while (*s != '\0' && *s != ' ' && *s != '\n') {
		char c = *s++;
		if (c == '%') {
			int hi = hex(s[0]), lo = hi >= 0 ? hex(s[1]) : -1;
			if (lo < 0)
				return false;
			c = (char)(hi * 16 + lo);
			s += 2;
		}
		if (n + 1 >= cap)
			return false;
		out[n++] = c;
	}
	out[n] = '\0';
	*p = s;
	return n > 0;
}

int gw_pg_meters_next(const char **p, struct gw_meter_row *m)
{
	const char *s = *p;
	if (*s == '\0')
		return 0;
	if (!take_word(&s, m->service, sizeof(m->service)) || *s++ != ' ' ||
	    !take_word(&s, m->name, sizeof(m->name)) || *s++ != ' ')
		return -1;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (end == s || (*end != '\0' && *end != '\n'))
		return -1;
	m->value = v;
	*p = *end == '\n' ? end + 1 : end;
	return 1;
}

/* A report whose packed counters do not parse. */
static int malformed(const struct gw_meter_row *m, struct tm_error *err)
{
	return tm_error_set(err, "store.failed", "meter readings: report %s seq %" PRId64
			    ": its packed counters (reports.meters) are malformed", m->serial, m->seq);
}

/* A report of SELECT serial, tenant, seq, generated_unix, generated_nsec
 * (its counters to come from its packed meters). */
static void report_row(const PGresult *r, int i, struct gw_meter_row *m)
{
	memset(m, 0, sizeof(*m));
	gw_pg_col_text(r, i, 0, m->serial, sizeof(m->serial));
	gw_pg_col_text(r, i, 1, m->tenant, sizeof(m->tenant));
	m->seq = gw_pg_col_int(r, i, 2);
	m->at = gw_pg_col_int(r, i, 3);
	m->at_nsec = (int32_t)gw_pg_col_int(r, i, 4);
}

/* ---- every reading up to a time, the latest ---- */

void gw_pg_meter_row(const PGresult *r, int i, void *out)
{
	struct gw_meter_row *m = out;
	memset(m, 0, sizeof(*m));
	gw_pg_col_text(r, i, 0, m->serial, sizeof(m->serial));
	gw_pg_col_text(r, i, 1, m->tenant, sizeof(m->tenant));
	m->seq = gw_pg_col_int(r, i, 2);
	m->at = gw_pg_col_int(r, i, 3);
	gw_pg_col_text(r, i, 4, m->service, sizeof(m->service));
	gw_pg_col_text(r, i, 5, m->name, sizeof(m->name));
	m->value = gw_pg_col_int(r, i, 6);
	m->at_nsec = (int32_t)gw_pg_col_int(r, i, 7);
}

static int call_meter(void *cb, void *ctx, void *row)
{
	return (*(gw_store_meter_cb *)cb)(ctx, row);
}

/* Every reading up to until (the session runs without JIT: by psql, for
 * 200 devices over 155 days, 1.3 s with JIT, 0.67 s without). */
int gw_pg_meter_list(void *state, bool latest, int64_t until, gw_store_meter_cb cb, void *ctx,
		     struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	struct gw_meter_row row;
	if (latest)
		return gw_pg_walk(state,
			"SELECT r.serial, r.tenant, r.seq, r.generated_unix, c.service, c.name, c.value,"
			" r.generated_nsec"
			" FROM devices d JOIN reports r ON r.serial = d.serial AND r.seq = d.last_seq"
			" JOIN counters c ON c.report = r.id"
			" ORDER BY r.serial COLLATE \"C\", c.service COLLATE \"C\", c.name COLLATE \"C\"",
			NULL, gw_pg_meter_row, &row, call_meter, &cb, ctx, "list meter readings", err);
	gw_pg_int(&p, until);
	return gw_pg_walk_stream(state,
		"SELECT r.serial, r.tenant, r.seq, r.generated_unix, c.service, c.name, c.value,"
		" r.generated_nsec FROM reports r JOIN counters c ON c.report = r.id"
		" WHERE r.generated_unix < $1 OR (r.generated_unix = $1 AND r.generated_nsec = 0)"
		" ORDER BY r.serial COLLATE \"C\", c.service COLLATE \"C\", c.name COLLATE \"C\","
		" r.generated_unix, r.generated_nsec, r.seq",
		&p, gw_pg_meter_row, &row, call_meter, &cb, ctx, "list meter readings", err);
}

/* ---- a counter's neighbours (the meter check of each report) ---- */

/* The packed counters' read of the report before (after) (at, at_nsec,
 * seq) of serial: $1 serial, $2 to $4 the instant. */
#define ADJACENT_SQL(after)                                                                \
	GW_PG_REPORT_NEXT(after, "SELECT r.serial, r.tenant, r.seq, r.generated_unix,"         \
			  " r.generated_nsec, " GW_PG_METERS_READ                                \
			  " FROM reports r WHERE r.serial = $1", "$2, $3, $4", "")

static void adjacent_params(struct gw_pg_params *p, const char *serial,
			    const struct gw_meter_ask *k)
{
	gw_pg_params_init(p);
	gw_pg_text(p, serial);
	gw_pg_int(p, k->at);
	gw_pg_int(p, k->at_nsec);
	gw_pg_int(p, k->seq);
}

int gw_pg_meter_adjacent_send(struct gw_pg_conn *c, const char *serial,
			      const struct gw_meter_ask *k, int *slot, struct tm_error *err)
{
	struct gw_pg_params p;
	adjacent_params(&p, serial, k);
	return gw_pg_pipe_send(c, ADJACENT_SQL(k->after), &p, true, "adjacent meter readings", slot,
			       err);
}

/* Answer ask k from r, the result of its ADJACENT_SQL: the counters the
 * neighbouring report holds; the rest further away (a round trip more). */
int gw_pg_meter_adjacent_take(struct gw_pg *s, const char *serial, const struct gw_meter_ask *k,
			      const PGresult *r, struct tm_error *err)
{
	size_t n = k->n;
	for (size_t i = 0; i < n; i++)
		k->found[i] = false;
	if (PQntuples(r) == 0)   /* no report on that side: no reading either */
		return GW_STORE_OK;
	struct gw_meter_row rep, m;
	report_row(r, 0, &rep);
	const char *meters = PQgetvalue(r, 0, 5);
	m = rep;
	int more = 0;
	size_t left = n;
	while (left > 0 && (more = gw_pg_meters_next(&meters, &m)) == 1)
		for (size_t i = 0; i < n; i++)
			if (!k->found[i] && strcmp(k->keys[i].name, m.name) == 0 &&
			    strcmp(k->keys[i].service, m.service) == 0) {
				k->out[i] = m;
				k->found[i] = true;
				left--;
			}
	if (left > 0 && more < 0)
		return malformed(&rep, err);
	if (left == 0)
		return GW_STORE_OK;
	/* the rest, further away */
	int rc = GW_STORE_OK;
	struct gw_meter_key *rest = malloc(left * sizeof(*rest));
	size_t *where = malloc(left * sizeof(*where));
	struct gw_meter_row *got = malloc(left * sizeof(*got));
	bool *had = calloc(left, sizeof(*had));
	if (rest == NULL || where == NULL || got == NULL || had == NULL)
		rc = tm_error_set(err, "internal.nomem", "adjacent meter readings: out of memory");
	size_t j = 0;
	for (size_t i = 0; rc == GW_STORE_OK && i < n; i++)
		if (!k->found[i]) {
			rest[j] = k->keys[i];
			where[j++] = i;
		}
	if (rc == GW_STORE_OK)
		rc = gw_pg_meter_adjacent_joined(s, serial, left, rest, k->at, k->at_nsec, k->seq,
						 k->after, got, had, err);
	for (j = 0; rc == GW_STORE_OK && j < left; j++)
		if (had[j]) {
			k->out[where[j]] = got[j];
			k->found[where[j]] = true;
		}
	free(rest);
	free(where);
	free(got);
	free(had);
	return rc;
}

/* The reading before (after: after) report seq at (at, at_nsec) of each of
 * n counters: the neighbouring report's packed counters answer those it
 * holds, one index walk where a LATERAL per counter walked each monthly
 * partition once a counter (133 of the server's ~1,500 us a message in
 * the replay, issue 16); the counters it lacks (or a report without packed
 * counters) are looked for further away, by gw_pg_meter_adjacent_joined. */
int gw_pg_meter_adjacent_many(void *state, const char *serial, size_t n,
			      const struct gw_meter_key *keys, int64_t at, int32_t at_nsec,
			      int64_t seq, bool after, struct gw_meter_row *out, bool *found,
			      struct tm_error *err)
{
	struct gw_pg *s = state;
	const struct gw_meter_ask k = { .n = n, .keys = keys, .at = at, .at_nsec = at_nsec,
					.seq = seq, .after = after, .out = out, .found = found };
	struct gw_pg_params p;
	adjacent_params(&p, serial, &k);
	PGresult *r;
	int rc = gw_pg_exec(&s->c, ADJACENT_SQL(after), &p, &r, "adjacent meter readings", err);
	if (rc != GW_STORE_OK)
		return rc;
	rc = gw_pg_meter_adjacent_take(s, serial, &k, r, err);
	PQclear(r);
	return rc;
}

/* ---- a billing period's readings ---- */

/* How far before since the read starts: a device reporting at least once a
 * week finds its openings there. */
#define OPENING_LOOKBACK (7 * 86400)
/* rows a fetch of the cursor brings */
#define FETCH_ROWS 8192
#define STR_(x) #x
#define STR(x) STR_(x)

/* at or before t to the fraction (generated_nsec >= 0): a row comparison,
 * which the report-time index answers walking back from t (an OR of two
 * conditions made PostgreSQL read each partition's matches by bitmap) */
#define AT_OR_BEFORE(t) " (r.generated_unix, r.generated_nsec) <= (" t ", 0)"

/* A counter of the device being read. */
struct opening {
	struct gw_meter_row row;   /* its last reading at or before since, not excluded */
	bool have;                 /* row holds one */
	bool in_last;              /* in the device's last report at or before since */
	bool met;                  /* handed over (its opening first, when it has one) */
};

struct range {
	struct gw_pg *s;
	int64_t since;
	gw_store_meter_cb cb;
	void *ctx;
	struct gw_meter_decision_row *excl;   /* excluded readings, by serial, seq, counter */
	size_t n_excl, cap_excl;
	char serial[GW_NAME_MAX + 1];         /* the device being read ("" none) */
	struct opening *o;
	size_t n, cap, next;
	bool have_last;   /* a report at or before since seen (or looked for) */
	bool none_before; /* looked for: the device has no report at or before since */
	bool opened;      /* the openings of its last report handed over */
	int stop;         /* the callback's stop */
};

static int add_excluded(void *ctx, const struct gw_meter_decision_row *d)
{
	struct range *g = ctx;
	if (!d->exclude)
		return 0;
	struct gw_meter_decision_row *a =
		tm_array_grow(g->excl, &g->cap_excl, g->n_excl, sizeof(*a), 16, SIZE_MAX);
	if (a == NULL)
		return 1;   /* out of memory: stop */
	g->excl = a;
	a[g->n_excl++] = *d;
	return 0;
}

static int cmp_decision(const void *a, const void *b)
{
	const struct gw_meter_decision_row *x = a, *y = b;
	int c = strcmp(x->serial, y->serial);
	if (c == 0)
		c = x->seq < y->seq ? -1 : x->seq > y->seq;
	return c != 0 ? c : strcmp(x->counter, y->counter);
}

static bool excluded(const struct range *g, const struct gw_meter_row *m)
{
	if (g->n_excl == 0)
		return false;
	struct gw_meter_decision_row key = {0};
	snprintf(key.serial, sizeof(key.serial), "%s", m->serial);
	key.seq = m->seq;
	snprintf(key.counter, sizeof(key.counter), "%s/%s", m->service, m->name);
	return bsearch(&key, g->excl, g->n_excl, sizeof(key), cmp_decision) != NULL;
}

/* The device's entry of counter m (made when new; NULL: out of memory). */
static struct opening *entry(struct range *g, const struct gw_meter_row *m)
{
	for (size_t k = 0; k < g->n; k++) {   /* reports list counters alike */
		size_t i = (g->next + k) % g->n;
		if (strcmp(g->o[i].row.name, m->name) == 0 &&
		    strcmp(g->o[i].row.service, m->service) == 0) {
			g->next = i + 1;
			return &g->o[i];
		}
	}
	struct opening *o = tm_array_grow(g->o, &g->cap, g->n, sizeof(*o), 8, SIZE_MAX);
	if (o == NULL)
		return NULL;
	g->o = o;
	o = &g->o[g->n++];
	g->next = g->n;
	memset(o, 0, sizeof(*o));
	snprintf(o->row.service, sizeof(o->row.service), "%s", m->service);
	snprintf(o->row.name, sizeof(o->row.name), "%s", m->name);
	return o;
}

/* A report at or before since: its counters are the last report's, each
 * the opening so far unless excluded. */
static int take_before(struct range *g, const struct gw_meter_row *rep, const char *meters,
		       struct tm_error *err)
{
	for (size_t k = 0; k < g->n; k++)
		g->o[k].in_last = false;
	g->have_last = true;
	struct gw_meter_row m = *rep;
	int more;
	while ((more = gw_pg_meters_next(&meters, &m)) == 1) {
		struct opening *o = entry(g, &m);
		if (o == NULL)
			return tm_error_set(err, "internal.nomem", "meter readings: out of memory");
		o->in_last = true;
		if (!excluded(g, &m)) {
			o->row = m;
			o->have = true;
		}
	}
	return more < 0 ? malformed(rep, err) : GW_STORE_OK;
}

/* The device's last report at or before since, when the read did not
 * reach back to it. */
static int find_last(struct range *g, struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, g->serial);
	gw_pg_int(&p, g->since);
	PGresult *r;
	int rc = gw_pg_exec(&g->s->c,
		"SELECT r.serial, r.tenant, r.seq, r.generated_unix, r.generated_nsec, " GW_PG_METERS_READ
		" FROM reports r WHERE r.serial = $1 AND" AT_OR_BEFORE("$2") GW_PG_NEWEST_FIRST,
		&p, &r, "find a device's last report", err);
	if (rc != GW_STORE_OK)
		return rc;
	g->have_last = true;   /* looked for: none means none */
	g->none_before = PQntuples(r) == 0;
	if (PQntuples(r) > 0) {
		struct gw_meter_row rep;
		report_row(r, 0, &rep);
		rc = take_before(g, &rep, PQgetvalue(r, 0, 5), err);
	}
	PQclear(r);
	return rc;
}

/* Hand counter o over: its opening first (found now when the read did not
 * reach back to it), once. */
static int meet(struct range *g, struct opening *o, struct tm_error *err)
{
	if (o->met)
		return GW_STORE_OK;
	o->met = true;
	if (!o->have && g->none_before)
		return GW_STORE_OK;   /* a device new in the period: no opening to look for */
	if (!o->have) {
		struct gw_pg_params p;
		gw_pg_params_init(&p);
		gw_pg_text(&p, g->serial);
		gw_pg_int(&p, g->since);
		gw_pg_text(&p, o->row.service);
		gw_pg_text(&p, o->row.name);
		bool found;
		int rc = gw_pg_get_one(g->s,
			"SELECT r.serial, r.tenant, r.seq, r.generated_unix, c.service, c.name, c.value,"
			" r.generated_nsec FROM reports r JOIN counters c ON c.report = r.id"
			" AND c.service = $3 AND c.name = $4"
			" WHERE r.serial = $1 AND" AT_OR_BEFORE("$2")
			" AND NOT EXISTS (SELECT 1 FROM meter_decisions m WHERE m.serial = r.serial"
			" AND m.seq = r.seq AND m.counter = c.service || '/' || c.name"
			" AND m.decision = 'exclude')" GW_PG_NEWEST_FIRST,
			&p, gw_pg_meter_row, &o->row, &found, "find a counter's opening", err);
		if (rc != GW_STORE_OK || !found)
			return rc;
		o->have = true;
	}
	g->stop = g->cb(g->ctx, &o->row);
	return GW_STORE_OK;
}

/* The counters of the device's last report at or before since: their
 * openings, before its first reading of the period. */
static int open_device(struct range *g, struct tm_error *err)
{
	g->opened = true;
	int rc = g->have_last ? GW_STORE_OK : find_last(g, err);
	for (size_t k = 0; rc == GW_STORE_OK && g->stop == 0 && k < g->n; k++)
		if (g->o[k].in_last)
			rc = meet(g, &g->o[k], err);
	return rc;
}

static int finish_device(struct range *g, struct tm_error *err)
{
	int rc = g->serial[0] != '\0' && !g->opened ? open_device(g, err) : GW_STORE_OK;
	g->serial[0] = '\0';
	return rc;
}

static void start_device(struct range *g, const char *serial)
{
	snprintf(g->serial, sizeof(g->serial), "%s", serial);
	g->n = g->next = 0;
	g->have_last = g->opened = g->none_before = false;
}

/* A report of the period: each counter met (its opening first), then its
 * reading. */
static int take_period(struct range *g, const struct gw_meter_row *rep, const char *meters,
		       struct tm_error *err)
{
	int rc = g->opened ? GW_STORE_OK : open_device(g, err);
	struct gw_meter_row m = *rep;
	int more = 1;
	while (rc == GW_STORE_OK && g->stop == 0 && (more = gw_pg_meters_next(&meters, &m)) == 1) {
		struct opening *o = entry(g, &m);
		if (o == NULL)
			return tm_error_set(err, "internal.nomem", "meter readings: out of memory");
		rc = meet(g, o, err);
		if (rc == GW_STORE_OK && g->stop == 0)
			g->stop = g->cb(g->ctx, &m);
	}
	return rc == GW_STORE_OK && more < 0 ? malformed(rep, err) : rc;
}

/* The devices before `upto` (NULL: all left) that the read did not meet:
 * their openings alone. */
static int devices_alone(struct range *g, const PGresult *devs, int *next, const char *upto,
			 struct tm_error *err)
{
	int rc = GW_STORE_OK;
	for (; rc == GW_STORE_OK && g->stop == 0 && *next < PQntuples(devs); ++*next) {
		const char *serial = PQgetvalue(devs, *next, 0);
		int c = upto != NULL ? strcmp(serial, upto) : -1;
		if (c >= 0) {
			*next += c == 0;   /* met by the read */
			break;
		}
		start_device(g, serial);
		rc = finish_device(g, err);
	}
	return rc;
}

/* One fetched slice of the read. */
static int take_slice(struct range *g, const PGresult *r, const PGresult *devs, int *next_dev,
		      struct tm_error *err)
{
	int rc = GW_STORE_OK;
	for (int i = 0; rc == GW_STORE_OK && g->stop == 0 && i < PQntuples(r); i++) {
		struct gw_meter_row rep;
		report_row(r, i, &rep);
		if (strcmp(rep.serial, g->serial) != 0) {
			rc = finish_device(g, err);
			if (rc == GW_STORE_OK)
				rc = devices_alone(g, devs, next_dev, rep.serial, err);
			start_device(g, rep.serial);
		}
		const char *meters = PQgetvalue(r, i, 5);
		if (rc != GW_STORE_OK || g->stop != 0)
			break;
		if (gw_store_time_cmp(rep.at, rep.at_nsec, g->since, 0) <= 0)
			rc = take_before(g, &rep, meters, err);
		else
			rc = take_period(g, &rep, meters, err);
	}
	return rc;
}

/* The read: the period's reports and the lookback's, device by device in
 * time order, in slices; the devices it does not meet between them. */
static int read_cursor(struct range *g, int64_t until, struct tm_error *err)
{
	struct gw_pg_conn *c = &g->s->c;
	PGresult *devs;
	int rc = gw_pg_exec(c, "SELECT serial FROM devices ORDER BY serial COLLATE \"C\"", NULL,
			    &devs, "list devices", err);
	if (rc != GW_STORE_OK)
		return rc;
	/* the sort of the period's reports in memory (a year of 1,000 devices:
	 * 66 MB for June), the whole result wanted, not its first rows; the
	 * lookups between fetches planned once, not at each call (a custom plan
	 * over twelve partitions: 4 to 6 ms, where it runs in under 1 ms) */
	char sql[1024];
	snprintf(sql, sizeof(sql),
		 "SET LOCAL work_mem = '256MB'; SET LOCAL cursor_tuple_fraction = 1;"
		 " SET LOCAL plan_cache_mode = force_generic_plan;"
		 " DECLARE telemail_meters NO SCROLL CURSOR FOR"
		 " SELECT r.serial, r.tenant, r.seq, r.generated_unix, r.generated_nsec, " GW_PG_METERS_READ
		 " FROM reports r WHERE r.generated_unix BETWEEN %" PRId64 " AND %" PRId64 " AND"
		 AT_OR_BEFORE("%" PRId64)   /* both bounds on generated_unix: the BRIN's */
		 " ORDER BY r.serial COLLATE \"C\", r.generated_unix, r.generated_nsec, r.seq",
		 g->since - OPENING_LOOKBACK, until, until);
	rc = gw_pg_exec(c, sql, NULL, NULL, "read meter readings", err);
	int next_dev = 0;
	g->serial[0] = '\0';
	for (bool more = true; rc == GW_STORE_OK && more && g->stop == 0;) {
		PGresult *r;
		rc = gw_pg_exec(c, "FETCH " STR(FETCH_ROWS) " FROM telemail_meters", NULL, &r,
				"read meter readings", err);
		if (rc != GW_STORE_OK)
			break;
		more = PQntuples(r) == FETCH_ROWS;
		rc = take_slice(g, r, devs, &next_dev, err);
		PQclear(r);
	}
	if (rc == GW_STORE_OK && g->stop == 0)
		rc = finish_device(g, err);
	if (rc == GW_STORE_OK && g->stop == 0)
		rc = devices_alone(g, devs, &next_dev, NULL, err);
	PQclear(devs);
	if (rc == GW_STORE_OK)
		rc = gw_pg_exec(c, "CLOSE telemail_meters", NULL, NULL, "read meter readings", err);
	return rc;
}

int gw_pg_meter_range(void *state, int64_t since, int64_t until, gw_store_meter_cb cb, void *ctx,
		      struct tm_error *err)
{
	struct range g = { .s = state, .since = since, .cb = cb, .ctx = ctx };
	struct gw_pg_conn *c = &g.s->c;
	int rc = gw_pg_meter_decision_list(g.s, add_excluded, &g, err);
	if (rc == 1)
		rc = tm_error_set(err, "internal.nomem", "meter readings: out of memory");
	if (rc == GW_STORE_OK && g.n_excl > 1)
		qsort(g.excl, g.n_excl, sizeof(*g.excl), cmp_decision);
	/* the cursor lives in a transaction: the caller's, or one of its own */
	bool own = !c->in_tx;
	if (rc == GW_STORE_OK && own) {
		rc = gw_pg_exec(c, "BEGIN READ ONLY", NULL, NULL, "begin", err);
		c->in_tx = rc == GW_STORE_OK;
	}
	if (rc == GW_STORE_OK)
		rc = read_cursor(&g, until, err);
	if (own && c->in_tx) {
		struct tm_error ignored = {0};
		int end = gw_pg_exec(c, rc == GW_STORE_OK ? "COMMIT" : "ROLLBACK", NULL, NULL, "end",
				     rc == GW_STORE_OK ? err : &ignored);
		if (rc == GW_STORE_OK)
			rc = end;
		c->in_tx = false;
	}
	free(g.o);
	free(g.excl);
	return rc != GW_STORE_OK ? rc : g.stop;
}
