/* telemail-mailgw — store dispatch and shared helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/error.h>
#include <telemail/report.h>
#include <telemail/time.h>

#include "store/store.h"

struct gw_store {
	const struct gw_store_ops *ops;
	void *be;
	bool in_batch;
};

static const struct gw_store_ops *const backends[] = {
	&gw_store_sqlite_ops,
};

static const char *const outcome_names[] = {
	[GW_OUTCOME_STORED] = "stored",
	[GW_OUTCOME_DUPLICATE] = "duplicate",
	[GW_OUTCOME_QUARANTINED] = "quarantined",
	[GW_OUTCOME_DEFERRED] = "deferred",
};

const char *gw_outcome_name(enum gw_outcome o)
{
	if ((unsigned)o >= sizeof(outcome_names) / sizeof(outcome_names[0]))
		return "?";
	return outcome_names[o];
}

int gw_outcome_parse(const char *s, enum gw_outcome *out)
{
	for (size_t i = 0; i < sizeof(outcome_names) / sizeof(outcome_names[0]); i++)
		if (s != NULL && strcmp(s, outcome_names[i]) == 0) {
			*out = (enum gw_outcome)i;
			return 0;
		}
	return -1;
}

int gw_store_open(const struct gw_store_options *o, struct gw_store **out, struct tm_error *err)
{
	*out = NULL;
	const char *name = o->backend != NULL ? o->backend : "sqlite";
	const struct gw_store_ops *ops = NULL;
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (strcmp(backends[i]->name, name) == 0)
			ops = backends[i];
	if (ops == NULL)
		return tm_error_set(err, "config.bad_value", "store.backend: unknown back end '%s'",
				    name);
	struct gw_store *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return tm_error_set(err, "internal.nomem", "store: out of memory");
	st->ops = ops;
	int rc = ops->open(o, &st->be, err);
	if (rc != GW_STORE_OK) {
		free(st);
		return rc;
	}
	*out = st;
	return GW_STORE_OK;
}

void gw_store_close(struct gw_store *st)
{
	if (st == NULL)
		return;
	if (st->in_batch)
		st->ops->rollback(st->be);
	st->ops->close(st->be);
	free(st);
}

const char *gw_store_backend(const struct gw_store *st)
{
	return st->ops->name;
}

const struct gw_store_ops *gw_store_ops_get0(const struct gw_store *st)
{
	return st->ops;
}

void *gw_store_state_get0(const struct gw_store *st)
{
	return st->be;
}

bool gw_store_in_batch(const struct gw_store *st)
{
	return st->in_batch;
}

int gw_store_begin(struct gw_store *st, struct tm_error *err)
{
	if (st->in_batch)
		return tm_error_set(err, "internal.bug", "store: begin inside an open batch");
	int rc = st->ops->begin(st->be, err);
	if (rc == GW_STORE_OK)
		st->in_batch = true;
	return rc;
}

int gw_store_commit(struct gw_store *st, struct tm_error *err)
{
	if (!st->in_batch)
		return tm_error_set(err, "internal.bug", "store: commit without begin");
	int rc = st->ops->commit(st->be, err);
	if (rc == GW_STORE_OK)
		st->in_batch = false;
	/* a failed commit leaves the batch open: the caller rolls back */
	return rc;
}

void gw_store_rollback(struct gw_store *st)
{
	if (!st->in_batch)
		return;
	st->ops->rollback(st->be);
	st->in_batch = false;
}

int gw_store_item_begin(struct gw_store *st, struct tm_error *err)
{
	if (!st->in_batch)
		return tm_error_set(err, "internal.bug", "store: item outside a batch");
	return st->ops->item_begin(st->be, err);
}

int gw_store_item_end(struct gw_store *st, bool keep, struct tm_error *err)
{
	if (!st->in_batch)
		return tm_error_set(err, "internal.bug", "store: item outside a batch");
	return st->ops->item_end(st->be, keep, err);
}

bool gw_store_is_sha256_hex(const char *s)
{
	if (s == NULL)
		return false;
	size_t i = 0;
	for (; s[i] != '\0'; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == 64;
}

static bool short_text(const char *s, size_t max)
{
	return s != NULL && s[0] != '\0' && strnlen(s, max + 1) <= max;
}

/* The relational rows are keyed by supply index and vendor counter id; the
 * schema does not make those unique, so a repeat is refused here by name
 * rather than lost to a primary key. */
static int check_unique_keys(const struct tm_report *rep, struct tm_error *err)
{
	for (size_t i = 0; i < rep->n_supplies; i++)
		for (size_t j = i + 1; j < rep->n_supplies; j++)
			if (rep->supplies[i].index == rep->supplies[j].index)
				return tm_error_set(err, "report.schema",
						    "supplies/%zu/index: %lld already used by supplies/%zu",
						    j, (long long)rep->supplies[j].index, i);
	for (size_t i = 0; i < rep->n_vendor; i++)
		for (size_t j = i + 1; j < rep->n_vendor; j++)
			if (rep->vendor[i].id != NULL && rep->vendor[j].id != NULL &&
			    strcmp(rep->vendor[i].id, rep->vendor[j].id) == 0)
				return tm_error_set(err, "report.schema",
						    "counters/vendor/%zu/id: '%s' already used by counters/vendor/%zu",
						    j, rep->vendor[j].id, i);
	for (size_t i = 0; i < rep->n_diagnostics; i++)
		for (size_t j = i + 1; j < rep->n_diagnostics; j++)
			if (strcmp(rep->diagnostics[i].name, rep->diagnostics[j].name) == 0)
				return tm_error_set(err, "report.schema",
						    "diagnostics/%s: appears twice", rep->diagnostics[j].name);
	return 0;
}

static int check_record(const struct gw_store_record *r, struct tm_error *err)
{
	const struct tm_report *rep = r->report;
	if (rep == NULL || r->json == NULL || r->json_len == 0)
		return tm_error_set(err, "internal.bug", "store: record without report or JSON");
	if (!short_text(rep->id, GW_NAME_MAX))
		return tm_error_set(err, "report.schema", "report/id: missing or longer than %d bytes",
				    GW_NAME_MAX);
	if (!short_text(rep->serial, GW_NAME_MAX))
		return tm_error_set(err, "report.schema",
				    "device/serial: missing or longer than %d bytes", GW_NAME_MAX);
	if (rep->seq < 1)
		return tm_error_set(err, "report.schema", "report/seq: must be >= 1");
	if (!short_text(rep->generated_at, 40))
		return tm_error_set(err, "report.schema", "report/generated_at: missing");
	if (!short_text(r->tenant, GW_NAME_MAX))
		return tm_error_set(err, "internal.bug", "store: record without tenant");
	if (!gw_store_is_sha256_hex(r->raw_sha256))
		return tm_error_set(err, "internal.bug", "store: raw_sha256 is not 64 hex digits");
	if (r->fingerprint != NULL && r->fingerprint[0] != '\0' &&
	    !gw_store_is_sha256_hex(r->fingerprint))
		return tm_error_set(err, "internal.bug", "store: fingerprint is not 64 hex digits");
	if (r->message_id != NULL && strnlen(r->message_id, GW_MESSAGE_ID_MAX + 1) > GW_MESSAGE_ID_MAX)
		return tm_error_set(err, "internal.bug", "store: message id longer than %d bytes",
				    GW_MESSAGE_ID_MAX);
	return check_unique_keys(rep, err);
}

int gw_store_put(struct gw_store *st, const struct gw_store_record *r, struct gw_put_info *info,
		 struct tm_error *err)
{
	memset(info, 0, sizeof(*info));
	if (check_record(r, err) < 0)
		return GW_STORE_ERROR;
	if (st->in_batch)
		return st->ops->put(st->be, r, info, err);
	int rc = gw_store_begin(st, err);
	if (rc != GW_STORE_OK)
		return rc;
	rc = st->ops->put(st->be, r, info, err);
	if (rc == GW_STORE_OK)
		rc = gw_store_commit(st, err);
	if (rc != GW_STORE_OK)
		gw_store_rollback(st);
	return rc;
}

int gw_store_log(struct gw_store *st, const struct gw_msglog_entry *e, struct tm_error *err)
{
	if (!gw_store_is_sha256_hex(e->raw_sha256))
		return tm_error_set(err, "internal.bug", "store: log: raw_sha256 is not 64 hex digits");
	if (e->message_id != NULL && strnlen(e->message_id, GW_MESSAGE_ID_MAX + 1) > GW_MESSAGE_ID_MAX)
		return tm_error_set(err, "internal.bug", "store: log: message id too long");
	if ((unsigned)e->outcome > GW_OUTCOME_DEFERRED)
		return tm_error_set(err, "internal.bug", "store: log: bad outcome");
	return st->ops->log(st->be, e, err);
}

int gw_store_msglog_get(struct gw_store *st, const char *raw_sha256, const char *message_id,
			struct gw_msglog_row *out, bool *found, struct tm_error *err)
{
	*found = false;
	return st->ops->msglog_get(st->be, raw_sha256, message_id != NULL ? message_id : "", out,
				   found, err);
}

int gw_store_report_get(struct gw_store *st, const char *report_id, struct gw_report_ref *out,
			bool *found, struct tm_error *err)
{
	*found = false;
	return st->ops->report_get(st->be, report_id, out, found, err);
}

int gw_store_unreachable_list(struct gw_store *st, gw_store_unreachable_cb cb, void *ctx,
			      struct tm_error *err)
{
	return st->ops->unreachable_list(st->be, cb, ctx, err);
}

/* ---- web reads (issue 19) ---- */

int gw_store_web_devices(struct gw_store *st, const char *serial, gw_store_web_device_cb cb,
			 void *ctx, struct tm_error *err)
{
	return st->ops->web_devices(st->be, serial, cb, ctx, err);
}

int gw_store_web_supplies(struct gw_store *st, const char *serial, gw_store_supply_cb cb,
			  void *ctx, struct tm_error *err)
{
	return st->ops->web_supplies(st->be, serial, cb, ctx, err);
}

int gw_store_web_supply_history(struct gw_store *st, const char *serial, int64_t since,
				gw_store_web_point_cb cb, void *ctx, struct tm_error *err)
{
	return st->ops->web_supply_history(st->be, serial, since, cb, ctx, err);
}

int gw_store_web_counter_history(struct gw_store *st, const char *serial, int64_t since,
				 gw_store_web_point_cb cb, void *ctx, struct tm_error *err)
{
	return st->ops->web_counter_history(st->be, serial, since, cb, ctx, err);
}

int gw_store_web_reports(struct gw_store *st, const char *serial, int64_t limit,
			 gw_store_web_report_cb cb, void *ctx, struct tm_error *err)
{
	return st->ops->web_reports(st->be, serial, limit, cb, ctx, err);
}

int gw_store_web_firmware(struct gw_store *st, const char *serial, gw_store_web_firmware_cb cb,
			  void *ctx, struct tm_error *err)
{
	return st->ops->web_firmware(st->be, serial, cb, ctx, err);
}

int gw_store_web_counters(struct gw_store *st, const char *serial, gw_store_web_point_cb cb,
			  void *ctx, struct tm_error *err)
{
	return st->ops->web_counters(st->be, serial, cb, ctx, err);
}

int gw_store_web_outcomes(struct gw_store *st, gw_store_web_outcome_cb cb, void *ctx,
			  struct tm_error *err)
{
	return st->ops->web_outcomes(st->be, cb, ctx, err);
}

/* The one RFC 3339 reader, held to UTC ("Z"): a stored time is never local. */
int gw_store_parse_utc_ns(const char *text, const char *what, int64_t *sec, int32_t *nsec,
			  struct tm_error *err)
{
	struct tm_time t;
	if (tm_time_parse(text, &t, NULL) < 0 || !t.zulu)
		return tm_error_set(err, "report.schema", "%s: '%.40s' is not a UTC timestamp",
				    what, text != NULL ? text : "");
	*sec = t.sec;
	*nsec = t.nsec;
	return 0;
}

int gw_store_check_signing_time(const struct tm_report *r, int64_t signing_time,
				int64_t max_skew, struct tm_error *err)
{
	int64_t t;
	if (gw_store_parse_utc(r->generated_at, "report/generated_at", &t, err) < 0)
		return -1;
	if (signing_time == INT64_MIN)
		return tm_error_set(err, "report.signing_time", "the signature has no signing time");
	int64_t d = t > signing_time ? t - signing_time : signing_time - t;
	if (d > max_skew)
		return tm_error_set(err, "report.signing_time",
				    "report/generated_at: %s is %lld s %s the signing time "
				    "(allowed skew %lld s)",
				    r->generated_at, (long long)d,
				    t > signing_time ? "after" : "before", (long long)max_skew);
	return 0;
}

int gw_store_parse_utc(const char *text, const char *what, int64_t *out, struct tm_error *err)
{
	int32_t nsec;
	return gw_store_parse_utc_ns(text, what, out, &nsec, err);
}

int gw_store_time_cmp(int64_t a_sec, int32_t a_nsec, int64_t b_sec, int32_t b_nsec)
{
	if (a_sec != b_sec)
		return a_sec < b_sec ? -1 : 1;
	return a_nsec < b_nsec ? -1 : a_nsec > b_nsec ? 1 : 0;
}

void gw_store_format_utc(int64_t sec, int32_t nsec, char *buf, size_t n)
{
	tm_time_format_ns(sec, nsec, TM_TIME_FRAC_SHORTEST, buf, n);
}

int gw_store_check_future(const struct tm_report *r, int64_t now, int64_t max_skew,
			  struct tm_error *err)
{
	int64_t t;
	int32_t ns;
	if (gw_store_parse_utc_ns(r->generated_at, "report/generated_at", &t, &ns, err) < 0)
		return -1;
	if (gw_store_time_cmp(t, ns, now + max_skew, 0) > 0)
		return tm_error_set(err, "report.future",
				    "report/generated_at: %s is %lld s ahead of the gateway clock "
				    "(allowed skew %lld s)",
				    r->generated_at, (long long)(t - now), (long long)max_skew);
	return 0;
}
