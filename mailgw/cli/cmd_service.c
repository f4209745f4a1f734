/* telemail-mailgw — the service commands: `alerts`, `supplies`, `meters`,
 * `billing`, `audit`, `notify`. Every query takes --tenant T (T and its
 * descendants only) and --json; people get aligned tables. */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include <telemail/buf.h>
#include <telemail/time.h>

#include "service/alerts.h"
#include "store/audit.h"
#include "service/billing.h"
#include "service/meter_check.h"
#include "cli/cli.h"
#include "config/config.h"
#include "config/config_service.h"
#include "service/notify.h"
#include "service/supply.h"
#include "registry/registry.h"
#include "registry/tenant_scope.h"


static int store_rc_exit(int rc)
{
	return rc == GW_STORE_RETRY ? GW_EXIT_FAILURE : GW_EXIT_REJECTED;
}

static void fmt_time(int64_t t, char *buf, size_t n)
{
	if (t == 0)
		snprintf(buf, n, "-");
	else
		tm_time_format(t, buf, n);
}

static void dump_json(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(j);
}

/* Options shared by the queries: --tenant T, --json, plus a few flags. */
struct qopts {
	const char *tenant;
	bool json;
	bool open_only;
	const char *period;
	const char *format;
	const char *head;
	const char *at;
	bool failed_only;
	bool all;
	bool recompute;
};

enum { OPT_TENANT = 1000, OPT_JSON, OPT_OPEN, OPT_PERIOD, OPT_FORMAT, OPT_HEAD, OPT_AT, OPT_FAILED,
       OPT_ALL, OPT_RECOMPUTE };

static int parse_opts(int argc, char **argv, int first, struct qopts *q, const char *allowed,
		      const char *usage)
{
	static const struct option opts[] = {
		{ "tenant", required_argument, NULL, OPT_TENANT },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "open", no_argument, NULL, OPT_OPEN },
		{ "period", required_argument, NULL, OPT_PERIOD },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "head", required_argument, NULL, OPT_HEAD },
		{ "at", required_argument, NULL, OPT_AT },
		{ "failed", no_argument, NULL, OPT_FAILED },
		{ "all", no_argument, NULL, OPT_ALL },
		{ "recompute", no_argument, NULL, OPT_RECOMPUTE },
		{ NULL, 0, NULL, 0 },
	};
	static const char letters[] = "tjopfhaFAr";   /* per OPT_*, for `allowed` */
	memset(q, 0, sizeof(*q));
	optind = first;
	int ch;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch < OPT_TENANT || ch > OPT_RECOMPUTE ||
		    strchr(allowed, letters[ch - OPT_TENANT]) == NULL)
			goto usage;
		switch (ch) {
		case OPT_TENANT: q->tenant = optarg; break;
		case OPT_JSON: q->json = true; break;
		case OPT_OPEN: q->open_only = true; break;
		case OPT_PERIOD: q->period = optarg; break;
		case OPT_FORMAT: q->format = optarg; break;
		case OPT_HEAD: q->head = optarg; break;
		case OPT_AT: q->at = optarg; break;
		case OPT_FAILED: q->failed_only = true; break;
		case OPT_ALL: q->all = true; break;
		case OPT_RECOMPUTE: q->recompute = true; break;
		default: goto usage;
		}
	}
	if (optind == argc)
		return 0;
usage:
	fprintf(stderr, "telemail-mailgw: %s\n", usage);
	return -1;
}

/* Open the store and load the tenant filter. */
static int open_scope(struct gw_cli *c, const struct qopts *q, struct gw_tenant_scope *scope)
{
	struct tm_error err = {0};
	if (gw_cli_store(c) < 0)
		return GW_EXIT_FAILURE;
	int rc = gw_tenant_scope_load(c->store, q->tenant, scope, &err);
	if (rc != 0) {
		gw_cli_error("--tenant", &err);
		return rc == GW_STORE_RETRY ? GW_EXIT_FAILURE : GW_EXIT_REJECTED;
	}
	return GW_EXIT_OK;
}

/* "now" for the timer commands: --at RFC 3339 UTC (tests, catching up) or the clock. */
static int when(const struct qopts *q, int64_t *now)
{
	struct tm_error err = {0};
	*now = (int64_t)time(NULL);
	if (q->at != NULL && gw_store_parse_utc(q->at, "--at", now, &err) < 0) {
		gw_cli_error("--at", &err);
		return -1;
	}
	return 0;
}

/* ---- alerts ---- */

static json_t *alert_json(const struct gw_alert_row *a)
{
	char first[32], last[32], acked[32], resolved[32];
	fmt_time(a->first_seen, first, sizeof(first));
	fmt_time(a->last_seen, last, sizeof(last));
	fmt_time(a->acked_at, acked, sizeof(acked));
	fmt_time(a->resolved_at, resolved, sizeof(resolved));
	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s}",
			 "id", (json_int_t)a->id, "tenant", a->tenant, "serial", a->serial,
			 "kind", a->kind, "subject", a->subject, "severity", a->severity,
			 "state", gw_alert_state_name(a->state), "detail", a->detail,
			 "first_seen", first, "last_seen", last, "count", (json_int_t)a->count,
			 "report_id", a->report_id, "acked_at", acked, "acked_by", a->acked_by,
			 "resolved_at", resolved);
}

static int alerts_list(struct gw_cli *c, const struct qopts *q)
{
	struct gw_tenant_scope scope;
	int ex = open_scope(c, q, &scope);
	if (ex != GW_EXIT_OK)
		return ex;
	struct tm_error err = {0};
	struct gw_alert_row *rows = NULL;
	size_t n = 0;
	int rc = gw_alerts_list(c->store, q->open_only, &rows, &n, &err);
	if (rc != GW_STORE_OK) {
		gw_cli_error("alerts", &err);
		gw_tenant_scope_fini(&scope);
		return GW_EXIT_FAILURE;
	}
	json_t *list = q->json ? json_array() : NULL;
	if (list == NULL)
		printf("%6s  %-12s %-14s %-22s %-28s %-8s %-12s %-20s %-20s %5s\n", "ID", "TENANT",
		       "SERIAL", "KIND", "SUBJECT", "SEVERITY", "STATE", "FIRST SEEN", "LAST SEEN",
		       "COUNT");
	for (size_t i = 0; i < n; i++) {
		const struct gw_alert_row *a = &rows[i];
		if (!gw_tenant_scope_has(&scope, a->tenant))
			continue;
		if (list != NULL) {
			json_array_append_new(list, alert_json(a));
			continue;
		}
		char first[32], last[32];
		fmt_time(a->first_seen, first, sizeof(first));
		fmt_time(a->last_seen, last, sizeof(last));
		printf("%6" PRId64 "  %-12s %-14s %-22s %-28s %-8s %-12s %-20s %-20s %5" PRId64 "\n",
		       a->id, a->tenant, a->serial, a->kind, a->subject, a->severity,
		       gw_alert_state_name(a->state), first, last, a->count);
	}
	if (list != NULL)
		dump_json(list);
	free(rows);
	gw_tenant_scope_fini(&scope);
	return GW_EXIT_OK;
}

static int alerts_ack(struct gw_cli *c, const char *id_text)
{
	char *end;
	long long id = strtoll(id_text, &end, 10);
	if (*id_text == '\0' || *end != '\0' || id < 1) {
		fprintf(stderr, "telemail-mailgw: alerts ack ID: '%s' is not an alert id\n", id_text);
		return GW_EXIT_USAGE;
	}
	if (gw_cli_store(c) < 0)
		return GW_EXIT_FAILURE;
	struct tm_error err = {0};
	int rc = gw_alerts_ack(c->store, c->cfg->service, id, NULL, (int64_t)time(NULL), &err);
	if (rc != GW_STORE_OK) {
		gw_cli_error("alerts ack", &err);
		return store_rc_exit(rc);
	}
	struct gw_alert_row a;
	bool found = false;
	if (gw_store_alert_get(c->store, id, &a, &found, &err) == GW_STORE_OK && found)
		printf("alert %lld %s\n", id, gw_alert_state_name(a.state));
	return GW_EXIT_OK;
}

static int alerts_silence(struct gw_cli *c, const struct qopts *q)
{
	int64_t now;
	if (when(q, &now) < 0)
		return GW_EXIT_USAGE;
	if (gw_cli_store(c) < 0)
		return GW_EXIT_FAILURE;
	struct tm_error err = {0};
	struct gw_silence_counts k;
	int rc = gw_alerts_check_silence(c->store, c->cfg->service, now, &k, &err);
	if (rc != GW_STORE_OK) {
		gw_cli_error("alerts check-silence", &err);
		return store_rc_exit(rc);
	}
	if (k.skipped)
		printf("check-silence: skipped: another gateway holds the silence check\n");
	else
		printf("check-silence: silent=%zu never_reported=%zu resolved=%zu"
		       " collectors_silent=%zu folded=%zu collectors_resolved=%zu\n", k.silent,
		       k.never, k.resolved, k.collectors_silent, k.folded, k.collectors_resolved);
	return GW_EXIT_OK;
}

int gw_cmd_alerts(struct gw_cli *c, int argc, char **argv)
{
	struct qopts q;
	const char *sub = argc > 1 ? argv[1] : "";
	if (strcmp(sub, "ack") == 0) {
		if (argc != 3) {
			fprintf(stderr, "telemail-mailgw: alerts ack ID\n");
			return GW_EXIT_USAGE;
		}
		return alerts_ack(c, argv[2]);
	}
	if (strcmp(sub, "check-silence") == 0) {
		if (parse_opts(argc, argv, 2, &q, "a", "alerts check-silence [--at TIME]") < 0)
			return GW_EXIT_USAGE;
		return alerts_silence(c, &q);
	}
	if (parse_opts(argc, argv, 1, &q, "tjo", "alerts [--open] [--tenant T] [--json] | alerts ack ID | alerts check-silence") < 0)
		return GW_EXIT_USAGE;
	return alerts_list(c, &q);
}

/* ---- supplies, meters ---- */

struct supply_ctx {
	const struct gw_tenant_scope *scope;
	json_t *list;
	struct gw_store *st;   /* supplies: forecasts as of now */
	int64_t now;
	bool recompute;        /* supplies: each forecast from the whole history */
	bool csv;
	int rc;                /* supplies: a forecast's store failure */
	struct tm_error *err;
};

/* The forecast columns: days left, empty date, basis (or the refusal). */
static void forecast_cells(const struct gw_forecast *f, char *days, char *date, char *basis,
			   size_t n)
{
	if (!f->ok) {
		snprintf(days, n, "-");
		snprintf(date, n, "-");
		snprintf(basis, n, "%s", f->reason);
		return;
	}
	snprintf(days, n, "%.1f", f->days_left);
	char t[32];
	tm_time_format(f->empty_at, t, sizeof(t));
	snprintf(date, n, "%.10s", t);
	snprintf(basis, n, "%s%s/%s", f->basis, f->weekday_pattern ? "+weekdays" : "",
		 f->confidence_word);
}

static int print_supply(void *ctx, const struct gw_supply_row *s)
{
	struct supply_ctx *x = ctx;
	if (!gw_tenant_scope_has(x->scope, s->tenant))
		return 0;
	char level[24], cap[24], days[32], date[32], basis[64];
	struct gw_forecast f;
	/* the kept forecast; made again from the history when asked, or when
	 * none was kept with its figures (a store older than them, or copied) */
	if (!x->recompute && s->fc.made_at != 0 && s->fc.figures) {
		gw_supply_forecast_kept(&s->fc, x->now, &f);
	} else {
		x->rc = gw_supply_forecast(x->st, s->serial, s->index, x->now, &f, NULL, NULL, x->err);
		if (x->rc != GW_STORE_OK)
			return 1;
	}
	forecast_cells(&f, days, date, basis, sizeof(days));
	if (s->level == -3)
		snprintf(level, sizeof(level), "some");
	else if (s->level < 0)
		snprintf(level, sizeof(level), "unknown");
	else
		snprintf(level, sizeof(level), "%" PRId64, s->level);
	if (s->max_capacity == INT64_MIN || s->max_capacity < 0)
		snprintf(cap, sizeof(cap), "-");
	else
		snprintf(cap, sizeof(cap), "%" PRId64, s->max_capacity);
	if (x->list != NULL) {
		json_t *fc = f.ok ? json_pack("{s:b, s:f, s:s, s:s, s:f, s:s, s:f, s:f, s:b}",
			"ok", 1, "days_left", f.days_left, "empty_date", date, "basis", f.basis,
			"confidence", f.confidence, "confidence_word", f.confidence_word,
			"pages_per_day", f.pages_per_day, "percent_per_day", f.pct_per_day,
			"weekday_pattern", f.weekday_pattern)
				  : json_pack("{s:b, s:s}", "ok", 0, "reason", f.reason);
		json_array_append_new(x->list, json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:I, s:s, s:o}",
			"tenant", s->tenant, "serial", s->serial, "seq", (json_int_t)s->seq,
			"index", (json_int_t)s->index, "type", s->type, "colorant", s->colorant,
			"unit", s->unit, "level", (json_int_t)s->level, "max_capacity", cap,
			"forecast", fc));
		return 0;
	}
	if (x->csv) {
		printf("%s,%s,%" PRId64 ",%s,%s,%s,%s,%s,%s,%s,%s,%.2f,%s\n", s->tenant, s->serial,
		       s->index, s->type, s->colorant, level, cap, s->unit, f.ok ? days : "",
		       f.ok ? date : "", f.basis, f.ok ? f.confidence : 0.0, f.reason);
		return 0;
	}
	printf("%-12s %-14s %5" PRId64 "  %-16s %-10s %8s %8s  %-8s %6s  %-10s  %s\n", s->tenant,
	       s->serial, s->index, s->type, s->colorant[0] ? s->colorant : "-", level, cap,
	       s->unit[0] ? s->unit : "-", days, date, basis);
	return 0;
}

int gw_cmd_supplies(struct gw_cli *c, int argc, char **argv)
{
	struct qopts q;
	struct gw_tenant_scope scope;
	const char *usage =
		"supplies [--tenant T] [--json] [--format table|csv|json] [--at TIME] [--recompute]";
	if (parse_opts(argc, argv, 1, &q, "tjfar", usage) < 0)
		return GW_EXIT_USAGE;
	const char *format = q.json ? "json" : q.format != NULL ? q.format : "table";
	if (strcmp(format, "table") != 0 && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0) {
		fprintf(stderr, "telemail-mailgw: %s\n", usage);
		return GW_EXIT_USAGE;
	}
	int64_t now;
	if (when(&q, &now) < 0)
		return GW_EXIT_USAGE;
	int ex = open_scope(c, &q, &scope);
	if (ex != GW_EXIT_OK)
		return ex;
	struct tm_error err = {0};
	struct supply_ctx x = { .scope = &scope, .list = strcmp(format, "json") == 0 ? json_array() : NULL,
				.st = c->store, .now = now, .recompute = q.recompute,
				.csv = strcmp(format, "csv") == 0,
				.err = &err };
	if (x.csv)
		printf("tenant,serial,index,type,colorant,level,max_capacity,unit,days_left,empty_date,"
		       "basis,confidence,reason\n");
	else if (x.list == NULL)
		printf("%-12s %-14s %5s  %-16s %-10s %8s %8s  %-8s %6s  %-10s  %s\n", "TENANT", "SERIAL",
		       "INDEX", "TYPE", "COLORANT", "LEVEL", "MAX", "UNIT", "DAYS", "EMPTY", "BASIS");
	int rc = gw_store_supply_list(c->store, print_supply, &x, &err);
	if (rc > 0)
		rc = x.rc;
	if (x.list != NULL)
		dump_json(x.list);
	gw_tenant_scope_fini(&scope);
	if (rc != GW_STORE_OK) {
		gw_cli_error("supplies", &err);
		return GW_EXIT_FAILURE;
	}
	return GW_EXIT_OK;
}

static int print_meter(void *ctx, const struct gw_meter_row *m)
{
	struct supply_ctx *x = ctx;
	if (!gw_tenant_scope_has(x->scope, m->tenant))
		return 0;
	char at[40], counter[GW_BILLING_COUNTER_MAX];
	gw_store_format_utc(m->at, m->at_nsec, at, sizeof(at));
	snprintf(counter, sizeof(counter), "%s/%s", m->service, m->name);
	if (x->list != NULL) {
		json_array_append_new(x->list, json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}",
			"tenant", m->tenant, "serial", m->serial, "counter", counter,
			"value", (json_int_t)m->value, "seq", (json_int_t)m->seq, "at", at));
		return 0;
	}
	printf("%-12s %-14s %-36s %14" PRId64 "  %-20s %8" PRId64 "\n", m->tenant, m->serial, counter,
	       m->value, at, m->seq);
	return 0;
}

int gw_cmd_meters(struct gw_cli *c, int argc, char **argv)
{
	struct qopts q;
	struct gw_tenant_scope scope;
	if (parse_opts(argc, argv, 1, &q, "tj", "meters [--tenant T] [--json]") < 0)
		return GW_EXIT_USAGE;
	int ex = open_scope(c, &q, &scope);
	if (ex != GW_EXIT_OK)
		return ex;
	struct supply_ctx x = { .scope = &scope, .list = q.json ? json_array() : NULL };
	if (x.list == NULL)
		printf("%-12s %-14s %-36s %14s  %-20s %8s\n", "TENANT", "SERIAL", "COUNTER", "VALUE",
		       "READ AT", "SEQ");
	struct tm_error err = {0};
	int rc = gw_store_meter_list(c->store, true, 0, print_meter, &x, &err);
	if (x.list != NULL)
		dump_json(x.list);
	gw_tenant_scope_fini(&scope);
	if (rc != GW_STORE_OK) {
		gw_cli_error("meters", &err);
		return GW_EXIT_FAILURE;
	}
	return GW_EXIT_OK;
}

/* ---- billing ---- */

static void billing_out(const struct gw_billing *b, const char *tenant, const char *format)
{
	char flags[GW_BILLING_FLAGS_MAX], oat[40], cat[40];
	if (strcmp(format, "json") == 0) {
		json_t *lines = json_array(), *totals = json_array();
		for (size_t i = 0; i < b->n_lines; i++) {
			const struct gw_billing_line *l = &b->lines[i];
			gw_billing_line_flags(l, flags, sizeof(flags));
			gw_store_format_utc(l->open_at, l->open_at_nsec, oat, sizeof(oat));
			gw_store_format_utc(l->close_at, l->close_at_nsec, cat, sizeof(cat));
			json_t *fl = json_array();
			for (char *p = flags, *tok; (tok = strtok_r(p, ";", &p)) != NULL; )
				json_array_append_new(fl, json_string(tok));
			char ps[40], pe[40];   /* the line's own tenant's period */
			fmt_time(l->period_start, ps, sizeof(ps));
			fmt_time(l->period_end, pe, sizeof(pe));
			json_array_append_new(lines, json_pack(
				"{s:s, s:s, s:s, s:I, s:s, s:I, s:s, s:I, s:I, s:o, s:s, s:s}",
				"tenant", l->tenant, "serial", l->serial, "counter", l->counter,
				"opening", (json_int_t)l->open_value, "opening_at", oat,
				"closing", (json_int_t)l->close_value, "closing_at", cat,
				"usage", (json_int_t)l->usage, "segments", (json_int_t)l->segments,
				"flags", fl, "period_start", ps, "period_end", pe));
		}
		for (size_t i = 0; i < b->n_totals; i++)
			json_array_append_new(totals, json_pack("{s:s, s:s, s:I, s:I}",
				"tenant", b->totals[i].tenant, "counter", b->totals[i].counter,
				"usage", (json_int_t)b->totals[i].usage,
				"devices", (json_int_t)b->totals[i].devices));
		fmt_time(b->start, oat, sizeof(oat));
		fmt_time(b->end, cat, sizeof(cat));
		dump_json(json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:o, s:o}", "period", b->period,
				    "tenant", tenant, "basis", b->basis, "start", oat, "end", cat,
				    "open", b->open, "lines", lines, "totals", totals));
		return;
	}
	if (strcmp(format, "csv") == 0) {   /* one writer of the CSV: the fleet page downloads the same */
		struct tm_buf out;
		tm_buf_init(&out);
		if (gw_billing_csv(b, &out) == 0)
			fwrite(out.data, 1, out.len, stdout);
		tm_buf_fini(&out);
		return;
	}
	fmt_time(b->start, oat, sizeof(oat));
	fmt_time(b->end, cat, sizeof(cat));
	printf("period %s (%s): %s to %s\n", b->period, b->basis, oat, cat);
	if (b->open)
		printf("period %s is open: it closes at the latest reading so far\n", b->period);
	putchar('\n');
	printf("%-12s %-14s %-34s %12s %12s %10s %4s  %s\n", "TENANT", "SERIAL", "COUNTER",
	       "OPENING", "CLOSING", "USAGE", "SEG", "FLAGS");
	for (size_t i = 0; i < b->n_lines; i++) {
		const struct gw_billing_line *l = &b->lines[i];
		gw_billing_line_flags(l, flags, sizeof(flags));
		gw_store_format_utc(l->open_at, l->open_at_nsec, oat, sizeof(oat));
		gw_store_format_utc(l->close_at, l->close_at_nsec, cat, sizeof(cat));
		printf("%-12s %-14s %-34s %12" PRId64 " %12" PRId64 " %10" PRId64 " %4u  %s\n",
		       l->tenant, l->serial, l->counter, l->open_value, l->close_value, l->usage,
		       l->segments, flags[0] ? flags : "-");
	}
	printf("\n%-12s %-34s %10s %8s\n", "TENANT", "COUNTER", "USAGE", "DEVICES");
	for (size_t i = 0; i < b->n_totals; i++) {
		const struct gw_billing_total *t = &b->totals[i];
		printf("%-12s %-34s %10" PRId64 " %8zu\n", t->tenant, t->counter, t->usage,
		       t->devices);
	}
}

/* billing accept|exclude READING: an operator settles a suspect reading. */
static int billing_decide(struct gw_cli *c, const char *verb, const char *reading)
{
	if (gw_cli_store(c) < 0)
		return GW_EXIT_FAILURE;
	struct tm_error err = {0};
	bool exclude = strcmp(verb, "exclude") == 0;
	int rc = gw_meter_decide(c->store, c->cfg->service, reading, exclude, NULL, (int64_t)time(NULL), &err);
	if (rc != GW_STORE_OK) {
		gw_cli_error(exclude ? "billing exclude" : "billing accept", &err);
		return store_rc_exit(rc);
	}
	printf("reading %s %s\n", reading, exclude ? "excluded" : "accepted");
	return GW_EXIT_OK;
}

int gw_cmd_billing(struct gw_cli *c, int argc, char **argv)
{
	struct qopts q;
	struct gw_tenant_scope scope;
	static const char usage[] =
		"billing --tenant T --period YYYY-MM [--format table|csv|json] [--json] [--at TIME]"
		" | billing accept|exclude READING";
	if (argc >= 2 && (strcmp(argv[1], "accept") == 0 || strcmp(argv[1], "exclude") == 0)) {
		if (argc != 3) {
			fprintf(stderr, "telemail-mailgw: %s\n", usage);
			return GW_EXIT_USAGE;
		}
		return billing_decide(c, argv[1], argv[2]);
	}
	if (parse_opts(argc, argv, 1, &q, "tjpfa", usage) < 0)
		return GW_EXIT_USAGE;
	const char *format = q.json ? "json" : q.format != NULL ? q.format : "table";
	if (q.tenant == NULL || q.period == NULL ||
	    (strcmp(format, "table") != 0 && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0)) {
		fprintf(stderr, "telemail-mailgw: %s\n", usage);
		return GW_EXIT_USAGE;
	}
	struct tm_error err = {0};
	int64_t s, e;
	if (gw_billing_period(q.period, &s, &e, &err) < 0) {
		gw_cli_error("billing", &err);
		return GW_EXIT_USAGE;
	}
	int64_t now;
	if (when(&q, &now) < 0)
		return GW_EXIT_USAGE;
	int ex = open_scope(c, &q, &scope);
	if (ex != GW_EXIT_OK)
		return ex;
	struct gw_billing b;
	int rc = gw_billing_run(c->store, &scope, q.period, c->cfg->service, now, &b, &err);
	gw_tenant_scope_fini(&scope);
	if (rc != GW_STORE_OK) {
		gw_cli_error("billing", &err);
		return store_rc_exit(rc);
	}
	billing_out(&b, q.tenant, format);
	gw_billing_fini(&b);
	return GW_EXIT_OK;
}

/* ---- audit ---- */

struct audit_ctx {
	const struct gw_tenant_scope *scope;
	json_t *list;
};

static int print_audit(void *ctx, const struct gw_audit_row *a)
{
	struct audit_ctx *x = ctx;
	/* entries without a tenant (global) are shown only without --tenant */
	if (!x->scope->all && !gw_tenant_scope_has(x->scope, a->tenant))
		return 0;
	char t[32];
	fmt_time(a->time, t, sizeof(t));
	if (x->list != NULL) {
		json_array_append_new(x->list, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
			"seq", (json_int_t)a->seq, "time", t, "actor", a->actor, "action", a->action,
			"object", a->object, "tenant", a->tenant, "before", a->before_digest,
			"after", a->after_digest, "prev_hash", a->prev_hash, "hash", a->hash));
		return 0;
	}
	printf("%6" PRId64 "  %-20s %-18s %-18s %-12s %-16.16s %s\n", a->seq, t, a->actor, a->action,
	       a->tenant[0] ? a->tenant : "-", a->hash, a->object);
	return 0;
}

static int audit_verify(struct gw_cli *c, const struct qopts *q)
{
	if (gw_cli_store(c) < 0)
		return GW_EXIT_FAILURE;
	struct tm_error err = {0};
	struct gw_audit_verify v;
	int rc = gw_audit_verify(c->store, q->head, &v, &err);
	if (rc != GW_STORE_OK) {
		gw_cli_error("audit verify", &err);
		return store_rc_exit(rc);
	}
	printf("audit verify: ok entries=%zu head=%s\n", v.entries, v.head[0] ? v.head : "-");
	return GW_EXIT_OK;
}

int gw_cmd_audit(struct gw_cli *c, int argc, char **argv)
{
	struct qopts q;
	if (argc > 1 && strcmp(argv[1], "verify") == 0) {
		if (parse_opts(argc, argv, 2, &q, "h", "audit verify [--head HASH]") < 0)
			return GW_EXIT_USAGE;
		return audit_verify(c, &q);
	}
	if (parse_opts(argc, argv, 1, &q, "tj", "audit [--tenant T] [--json] | audit verify [--head HASH]") < 0)
		return GW_EXIT_USAGE;
	struct gw_tenant_scope scope;
	int ex = open_scope(c, &q, &scope);
	if (ex != GW_EXIT_OK)
		return ex;
	struct audit_ctx x = { .scope = &scope, .list = q.json ? json_array() : NULL };
	if (x.list == NULL)
		printf("%6s  %-20s %-18s %-18s %-12s %-16s %s\n", "SEQ", "TIME", "ACTOR", "ACTION",
		       "TENANT", "HASH", "OBJECT");
	struct tm_error err = {0};
	int rc = gw_store_audit_list(c->store, print_audit, &x, &err);
	if (x.list != NULL)
		dump_json(x.list);
	gw_tenant_scope_fini(&scope);
	if (rc != GW_STORE_OK) {
		gw_cli_error("audit", &err);
		return GW_EXIT_FAILURE;
	}
	return GW_EXIT_OK;
}

/* ---- notify ---- */

static const char notify_usage[] =
	"notify run-once [--at TIME] | notify list [--failed] [--json] | notify retry ID|--all";

static int notify_run_once(struct gw_cli *c, const struct qopts *q)
{
	int64_t now;
	if (when(q, &now) < 0)
		return GW_EXIT_USAGE;
	if (gw_cli_store(c) < 0)
		return GW_EXIT_FAILURE;
	signal(SIGPIPE, SIG_IGN);   /* a relay or receiver that hangs up is an error value */
	struct tm_error err = {0};
	struct gw_notify_counts k;
	int rc = gw_notify_run_once(c->store, c->cfg->service, now, &k, &err);
	if (rc != GW_STORE_OK) {
		gw_cli_error("notify run-once", &err);
		return store_rc_exit(rc);
	}
	printf("notify: mailed=%zu digests=%zu digested=%zu posted=%zu retried=%zu failed=%zu\n",
	       k.mailed, k.digests, k.digested, k.posted, k.retried, k.failed);
	return k.retried + k.failed > 0 ? GW_EXIT_REJECTED : GW_EXIT_OK;
}

static const char *const notify_state_names[] = { "queued", "sent", "failed" };

static int print_notification(void *ctx, const struct gw_notify_row *n)
{
	json_t *list = ctx;
	char created[32], next[32];
	fmt_time(n->created_at, created, sizeof(created));
	fmt_time(n->state == GW_NOTIFY_PENDING ? n->next_at : 0, next, sizeof(next));
	const char *state = notify_state_names[n->state];
	if (list != NULL) {
		json_array_append_new(list, json_pack(
			"{s:I, s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s}",
			"id", (json_int_t)n->id, "channel", n->channel, "state", state,
			"alert", (json_int_t)n->alert_id, "event", n->event, "kind", n->kind,
			"severity", n->severity, "tenant", n->tenant, "queued_at", created,
			"attempts", (json_int_t)n->attempts, "next_at", next, "last_error", n->last_error));
		return 0;
	}
	printf("%6" PRId64 "  %-8s %-7s %6" PRId64 " %-9s %-22s %-8s %-20s %8" PRId64 " %-20s %s\n",
	       n->id, n->channel, state, n->alert_id, n->event, n->kind, n->severity, created,
	       n->attempts, next, n->last_error[0] ? n->last_error : "-");
	return 0;
}

static int notify_list(struct gw_cli *c, const struct qopts *q)
{
	if (gw_cli_store(c) < 0)
		return GW_EXIT_FAILURE;
	json_t *list = q->json ? json_array() : NULL;
	if (list == NULL)
		printf("%6s  %-8s %-7s %6s %-9s %-22s %-8s %-20s %8s %-20s %s\n", "ID", "CHANNEL",
		       "STATE", "ALERT", "EVENT", "KIND", "SEVERITY", "QUEUED AT", "ATTEMPTS", "NEXT TRY",
		       "LAST ERROR");
	struct tm_error err = {0};
	int rc = gw_store_notify_list(c->store, q->failed_only ? GW_NOTIFY_LIST_FAILED
				      : GW_NOTIFY_LIST_UNSENT,
				      print_notification, list, &err);
	if (list != NULL)
		dump_json(list);
	if (rc != GW_STORE_OK) {
		gw_cli_error("notify list", &err);
		return GW_EXIT_FAILURE;
	}
	return GW_EXIT_OK;
}

static int notify_retry(struct gw_cli *c, int argc, char **argv)
{
	long long id = 0;
	if (argc == 3 && strcmp(argv[2], "--all") != 0) {
		char *end;
		id = strtoll(argv[2], &end, 10);
		if (argv[2][0] == '\0' || *end != '\0' || id < 1) {
			fprintf(stderr, "telemail-mailgw: notify retry ID: '%s' is not a notification id\n",
				argv[2]);
			return GW_EXIT_USAGE;
		}
	} else if (argc != 3) {
		fprintf(stderr, "telemail-mailgw: notify retry ID|--all\n");
		return GW_EXIT_USAGE;
	}
	if (gw_cli_store(c) < 0)
		return GW_EXIT_FAILURE;
	struct tm_error err = {0};
	size_t n = 0;
	int rc = gw_notify_retry(c->store, id, NULL, (int64_t)time(NULL), &n, &err);
	if (rc != GW_STORE_OK) {
		gw_cli_error("notify retry", &err);
		return store_rc_exit(rc);
	}
	printf("notify retry: queued=%zu\n", n);
	return GW_EXIT_OK;
}

int gw_cmd_notify(struct gw_cli *c, int argc, char **argv)
{
	struct qopts q;
	const char *sub = argc > 1 ? argv[1] : "";
	if (strcmp(sub, "run-once") == 0) {
		if (parse_opts(argc, argv, 2, &q, "a", "notify run-once [--at TIME]") < 0)
			return GW_EXIT_USAGE;
		return notify_run_once(c, &q);
	}
	if (strcmp(sub, "list") == 0) {
		if (parse_opts(argc, argv, 2, &q, "jF", "notify list [--failed] [--json]") < 0)
			return GW_EXIT_USAGE;
		return notify_list(c, &q);
	}
	if (strcmp(sub, "retry") == 0)
		return notify_retry(c, argc, argv);
	fprintf(stderr, "telemail-mailgw: %s\n", notify_usage);
	return GW_EXIT_USAGE;
}

/* `status`: the notification queue, per channel. */
void gw_cli_notify_status(const struct gw_notify_channel_stats *s, bool json)
{
	for (int ch = 0; ch < GW_NOTIFY_CHANNELS; ch++) {
		const struct gw_notify_channel_stats *x = &s[ch];
		char oq[32], of[32];
		fmt_time(x->oldest_queued, oq, sizeof(oq));
		fmt_time(x->oldest_failed, of, sizeof(of));
		const char *name = gw_notify_channel_name((enum gw_notify_channel)ch);
		if (json) {
			json_t *j = json_pack("{s:I, s:I, s:s, s:s, s:s}", "queued", (json_int_t)x->queued,
					      "failed", (json_int_t)x->failed, "oldest_queued", oq,
					      "oldest_failed", of, "last_error", x->last_error);
			char *text = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
			printf("%s\"%s\": %s", ch ? ", " : "", name, text != NULL ? text : "null");
			free(text);
			json_decref(j);
			continue;
		}
		printf("notify %-8s queued %zu (oldest %s), failed %zu (oldest %s)%s%s\n", name,
		       x->queued, oq, x->failed, of, x->last_error[0] ? "; last error: " : "",
		       x->last_error);
	}
}
