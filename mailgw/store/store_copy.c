/* telemail-mailgw — the store front: moving a store into another back end
 * (see store_copy.h). The tables, their columns and their order are listed
 * once here; the back ends read (table_read) and write (table_write) rows
 * of any of them. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/buf.h>
#include <telemail/error.h>

#include "store/quarantine.h"
#include "store/store.h"
#include "store/store_copy.h"
#include "store/store_private.h"

/* Parents before children where a key refers to another table (the
 * target checks its keys at the commit; this order keeps the checks
 * cheap). The columns are those of schema version 4 of both back ends. */
static const struct gw_table_spec tables[] = {
	{ "tenants", "name, parent, created_at", 3, "name", false },
	{ "certificates",
	  "fingerprint, role, tenant, serial, subject, not_after, enrolled_at, revoked_at", 8,
	  "fingerprint", false },
	{ "devices",
	  "serial, tenant, enrolled_at, last_seq, last_report_id, last_seen, last_received, "
	  "manufacturer, model, name, location, ip, mac, state, last_seen_nsec", 15, "serial", false },
	{ "cert_devices", "fingerprint, serial", 2, "fingerprint, serial", false },
	{ "reports",
	  "id, report_id, serial, seq, tenant, kind, generated_at, generated_unix, received_at, "
	  "signer, message_id, raw_sha256, trigger_cause, outbox_gap, state, generated_nsec", 16,
	  "id", true },
	{ "report_json", "report, json", 2, "report", false },
	{ "counters", "report, service, name, value, unit", 5, "report, service, name", false },
	{ "supplies",
	  "report, idx, type, colorant, description, unit, max_capacity, level, part_number", 9,
	  "report, idx", false },
	{ "latest_supplies",
	  "serial, idx, seq, type, colorant, description, unit, max_capacity, level, part_number",
	  10, "serial, idx", false },
	{ "parts", "report, n, name, used, rated_life, unit", 6, "report, n", false },
	{ "alerts",
	  "report, n, code, sub_code, severity, grp, location, description, time, counter", 10,
	  "report, n", false },
	{ "diagnostics", "report, name, type, value", 4, "report, name", false },
	{ "firmware", "report, n, component, version", 4, "report, n", false },
	{ "message_log",
	  "raw_sha256, message_id, received_at, updated_at, outcome, reason, detail, report_id, "
	  "quarantine_id", 9, "raw_sha256, message_id", false },
	{ "svc_alerts",
	  "id, serial, tenant, kind, subject, severity, state, detail, first_seen, last_seen, "
	  "count, report_id, acked_at, acked_by, resolved_at", 15, "id", true },
	{ "svc_marks", "serial, key, seq, ival, tval", 5, "serial, key", false },
	{ "svc_notify",
	  "id, alert_id, event, channel, kind, severity, tenant, payload, state, attempts, "
	  "next_at, created_at, sent_at, last_error", 14, "id", true },
	{ "svc_audit",
	  "seq, time, actor, action, object, tenant, before_digest, after_digest, prev_hash, hash",
	  10, "seq", false },
	{ "collector_status",
	  "fingerprint, tenant, serial, report_id, generated_unix, devices, unreachable_count", 7,
	  "fingerprint", false },
	{ "collector_unreachable", "fingerprint, address, serial, reason, since_unix, detail", 6,
	  "fingerprint, address", false },
};
#define N_TABLES (sizeof(tables) / sizeof(tables[0]))

/* The quarantine: a table on PostgreSQL, read through the quarantine's
 * front on the source (SQLite keeps it in a database of its own). */
static const struct gw_table_spec quarantine_table = {
	"quarantine",
	"id, reason, detail, message_id, serial, report_id, size, received_at, quarantined_at, raw",
	10, "id", false,
};

/* Rows gathered for one write: the cells, and the text and bytes they
 * hold in one arena (offsets until the write, as the arena may move). */
struct batch {
	struct gw_store *to;
	const struct gw_table_spec *t;
	struct gw_cell *cells;   /* GW_COPY_BATCH_ROWS * ncols */
	size_t *off;
	size_t rows;
	char *arena;
	size_t used, cap;
	int64_t copied;
};

static int batch_flush(struct batch *b, struct tm_error *err)
{
	if (b->rows == 0)
		return GW_STORE_OK;
	size_t n = b->rows * (size_t)b->t->ncols;
	for (size_t i = 0; i < n; i++)
		if (b->cells[i].kind == GW_CELL_TEXT || b->cells[i].kind == GW_CELL_BYTES)
			b->cells[i].p = b->arena + b->off[i];
	int rc = b->to->ops->table_write(b->to->be, b->t, b->cells, b->rows, err);
	if (rc == GW_STORE_OK)
		b->copied += (int64_t)b->rows;
	b->rows = 0;
	b->used = 0;
	return rc;
}

static int arena_fit(struct batch *b, size_t need, struct tm_error *err)
{
	if (b->used + need <= b->cap)
		return 0;
	size_t cap = b->cap > 0 ? b->cap : 64u << 10;
	while (cap < b->used + need)
		cap *= 2;
	char *a = realloc(b->arena, cap);
	if (a == NULL)
		return tm_error_set(err, "internal.nomem", "store copy: out of memory");
	b->arena = a;
	b->cap = cap;
	return 0;
}

static int batch_add(void *ctx, const struct gw_cell *row, struct tm_error *err)
{
	struct batch *b = ctx;
	size_t k = (size_t)b->t->ncols, base = b->rows * k;
	for (size_t c = 0; c < k; c++) {
		struct gw_cell *out = &b->cells[base + c];
		*out = row[c];
		if (row[c].kind != GW_CELL_TEXT && row[c].kind != GW_CELL_BYTES)
			continue;
		if (arena_fit(b, row[c].len + 1, err) < 0)
			return GW_STORE_ERROR;
		if (row[c].len > 0)
			memcpy(b->arena + b->used, row[c].p, row[c].len);
		b->arena[b->used + row[c].len] = '\0';   /* text stays NUL-terminated */
		b->off[base + c] = b->used;
		out->p = NULL;
		b->used += row[c].len + 1;
	}
	b->rows++;
	if (b->rows == GW_COPY_BATCH_ROWS || b->used >= GW_COPY_BATCH_BYTES)
		return batch_flush(b, err);
	return GW_STORE_OK;
}

static int batch_init(struct batch *b, struct gw_store *to, const struct gw_table_spec *t,
		      struct tm_error *err)
{
	memset(b, 0, sizeof(*b));
	b->to = to;
	b->t = t;
	b->cells = calloc(GW_COPY_BATCH_ROWS * (size_t)t->ncols, sizeof(*b->cells));
	b->off = calloc(GW_COPY_BATCH_ROWS * (size_t)t->ncols, sizeof(*b->off));
	if (b->cells == NULL || b->off == NULL)
		return tm_error_set(err, "internal.nomem", "store copy: out of memory");
	return GW_STORE_OK;
}

static void batch_fini(struct batch *b)
{
	free(b->cells);
	free(b->off);
	free(b->arena);
}

/* ---- the quarantine, entry by entry ---- */

struct qwalk {
	struct gw_quarantine *q;
	struct batch *b;
	int64_t seen;
	int rc;   /* the store code of a failed write */
	struct tm_error *err;
};

static void cell_text(struct gw_cell *c, const char *s)
{
	*c = (struct gw_cell){ .kind = GW_CELL_TEXT, .p = s, .len = strlen(s) };
}

static void cell_int(struct gw_cell *c, int64_t v)
{
	*c = (struct gw_cell){ .kind = GW_CELL_INT, .i = v };
}

static int quarantine_entry(void *ctx, const struct gw_quarantine_meta *m)
{
	struct qwalk *w = ctx;
	w->seen++;
	struct gw_quarantine_meta full;
	struct tm_buf raw;
	tm_buf_init(&raw);
	if (gw_quarantine_get(w->q, m->id, &full, &raw, w->err) < 0) {
		tm_buf_fini(&raw);
		w->rc = GW_STORE_ERROR;
		return 1;
	}
	struct gw_cell row[10];
	cell_text(&row[0], full.id);
	cell_text(&row[1], full.reason);
	cell_text(&row[2], full.detail);
	cell_text(&row[3], full.message_id);
	cell_text(&row[4], full.serial);
	cell_text(&row[5], full.report_id);
	cell_int(&row[6], (int64_t)full.size);
	cell_int(&row[7], full.received_at);
	cell_int(&row[8], full.quarantined_at);
	row[9] = (struct gw_cell){ .kind = GW_CELL_BYTES, .p = raw.data, .len = raw.len };
	w->rc = batch_add(w->b, row, w->err);
	tm_buf_fini(&raw);
	return w->rc != GW_STORE_OK ? 1 : 0;
}

/* ---- the copy ---- */

static int check_empty(struct gw_store *to, struct tm_error *err)
{
	for (size_t i = 0; i <= N_TABLES; i++) {
		const char *name = i < N_TABLES ? tables[i].name : quarantine_table.name;
		int64_t n = 0;
		int rc = to->ops->table_count(to->be, name, &n, err);
		if (rc != GW_STORE_OK)
			return rc;
		if (n > 0) {
			tm_error_set(err, "store.not_empty",
				     "the target's table %s already holds %lld row%s: store copy "
				     "fills an empty database only (a new one, or one `store init` "
				     "made)", name, (long long)n, n == 1 ? "" : "s");
			return GW_STORE_ERROR;
		}
	}
	return GW_STORE_OK;
}

static int copy_table(struct gw_store *from, struct gw_quarantine *fromq, struct gw_store *to,
		      const struct gw_table_spec *t, struct gw_copy_count *cnt,
		      struct tm_error *err)
{
	struct batch b;
	int rc = batch_init(&b, to, t, err);
	cnt->table = t->name;
	if (rc == GW_STORE_OK && fromq == NULL)
		rc = from->ops->table_count(from->be, t->name, &cnt->source, err);
	if (rc == GW_STORE_OK && fromq == NULL) {
		rc = from->ops->table_read(from->be, t, batch_add, &b, err);
	} else if (rc == GW_STORE_OK) {
		struct qwalk w = { .q = fromq, .b = &b, .err = err };
		int qrc = gw_quarantine_list(fromq, quarantine_entry, &w, err);
		cnt->source = w.seen;
		rc = w.rc != GW_STORE_OK ? w.rc : qrc != 0 ? GW_STORE_ERROR : GW_STORE_OK;
	}
	if (rc == GW_STORE_OK)
		rc = batch_flush(&b, err);
	cnt->copied = b.copied;
	batch_fini(&b);
	if (rc == GW_STORE_OK)
		rc = to->ops->table_count(to->be, t->name, &cnt->target, err);
	if (rc == GW_STORE_OK && (cnt->copied != cnt->source || cnt->target != cnt->source)) {
		tm_error_set(err, "store.failed",
			     "store copy: table %s: %lld rows in the source, %lld copied, %lld on "
			     "the target", t->name, (long long)cnt->source, (long long)cnt->copied,
			     (long long)cnt->target);
		rc = GW_STORE_ERROR;
	}
	return rc;
}

int gw_store_copy(struct gw_store *from, struct gw_quarantine *fromq, struct gw_store *to,
		  struct gw_copy_result *out, struct tm_error *err)
{
	memset(out, 0, sizeof(*out));
	if (from->ops->table_read == NULL || from->ops->table_count == NULL)
		return gw_store_unsupported(from, "reading a table to copy", err);
	if (to->ops->table_write == NULL || to->ops->table_count == NULL ||
	    to->ops->copy_begin == NULL || to->ops->copy_end == NULL)
		return gw_store_unsupported(to, "writing a copied table", err);
	if (from->in_batch || to->in_batch || fromq == NULL)
		return tm_error_set(err, "internal.bug", "store copy: inside a batch, or no quarantine");
	int rc = check_empty(to, err);
	if (rc != GW_STORE_OK)
		return rc;
	/* the source's snapshot: a read transaction */
	rc = gw_store_begin(from, err);
	if (rc != GW_STORE_OK)
		return rc;
	rc = gw_store_begin(to, err);
	if (rc == GW_STORE_OK)
		rc = to->ops->copy_begin(to->be, err);
	for (size_t i = 0; rc == GW_STORE_OK && i <= N_TABLES; i++) {
		bool q = i == N_TABLES;
		rc = copy_table(from, q ? fromq : NULL, to, q ? &quarantine_table : &tables[i],
				&out->t[out->n], err);
		out->n++;
	}
	if (rc == GW_STORE_OK)
		rc = to->ops->copy_end(to->be, tables, N_TABLES, err);
	if (rc == GW_STORE_OK)
		rc = gw_store_commit(to, err);
	gw_store_rollback(to);
	gw_store_rollback(from);
	return rc;
}
