/* telemail-mailgw — the SQLite back end's quarantine (the contract is
 * store/quarantine.h; store.c is its only caller).
 *
 * One directory holding one SQLite database of its own, quarantine.db (WAL,
 * synchronous=FULL), apart from the store's: a row per quarantined message
 * keyed by its id. The file and its table are those of every earlier
 * version, so an installation keeps its quarantine. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include <telemail/buf.h>
#include <telemail/error.h>

#include "store/quarantine.h"
#include "store/sqlite/store_sqlite.h"

#define DB_NAME "quarantine.db"
#define BUSY_TIMEOUT_MS 5000

struct sq_quarantine {
	char *dir;
	sqlite3 *db;
	bool batched;   /* between batch_begin and batch_end */
	bool in_txn;    /* the batch's transaction is open */
	sqlite3_stmt *put; /* prepared once: preparing cost more than the insert */
};

static const char SCHEMA[] =
	"CREATE TABLE IF NOT EXISTS quarantine ("
	" id TEXT NOT NULL UNIQUE,"          /* SHA-256 of raw, 64 lower-case hex */
	" reason TEXT NOT NULL, detail TEXT NOT NULL, message_id TEXT NOT NULL,"
	" serial TEXT NOT NULL, report_id TEXT NOT NULL, size INTEGER NOT NULL,"
	" received_at INTEGER NOT NULL, quarantined_at INTEGER NOT NULL,"
	" raw BLOB NOT NULL)";

#define META_COLUMNS \
	"id, reason, detail, message_id, serial, report_id, size, received_at, quarantined_at"

static int db_error(struct sq_quarantine *q, const char *reason, const char *what,
		    struct tm_error *err)
{
	return tm_error_set(err, reason, "%s/%s: %s: %s", q->dir, DB_NAME, what,
			    sqlite3_errmsg(q->db));
}

static int exec(struct sq_quarantine *q, const char *sql, const char *what, struct tm_error *err)
{
	if (sqlite3_exec(q->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_error(q, "io.write", what, err);
	return 0;
}

static int prepare(struct sq_quarantine *q, const char *sql, sqlite3_stmt **st,
		   struct tm_error *err)
{
	if (sqlite3_prepare_v2(q->db, sql, -1, st, NULL) != SQLITE_OK)
		return db_error(q, "io.read", "prepare", err);
	return 0;
}

static void q_close(void *state);

static int q_open(const struct gw_store_options *o, void **out, struct tm_error *err)
{
	*out = NULL;
	const char *dir = o->quarantine_dir;
	if (dir == NULL || dir[0] == '\0')
		return tm_error_set(err, "config.bad_value", "quarantine_dir: empty");
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return tm_error_set(err, "io.open", "%s: mkdir: %s", dir, strerror(errno));
	struct stat st;
	if (stat(dir, &st) < 0)
		return tm_error_set(err, "io.open", "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return tm_error_set(err, "io.open", "%s: %s", dir, strerror(ENOTDIR));
	struct sq_quarantine *q = calloc(1, sizeof(*q));
	size_t n = strlen(dir) + sizeof(DB_NAME) + 2;
	char *path = malloc(n);
	if (q == NULL || path == NULL || (q->dir = strdup(dir)) == NULL) {
		free(q);
		free(path);
		return tm_error_set(err, "internal.nomem", "quarantine: out of memory");
	}
	snprintf(path, n, "%s/%s", dir, DB_NAME);
	int rc = sqlite3_open_v2(path, &q->db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
				 NULL);
	free(path);
	if (rc != SQLITE_OK) {
		db_error(q, "io.open", "open", err);
		q_close(q);
		return -1;
	}
	sqlite3_busy_timeout(q->db, BUSY_TIMEOUT_MS);
	/* WAL answers with a row: sqlite3_exec ignores it */
	if (exec(q, "PRAGMA journal_mode = WAL", "journal_mode", err) < 0 ||
	    exec(q, "PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY", "pragmas", err) < 0 ||
	    exec(q, SCHEMA, "schema", err) < 0) {
		tm_error_prefix(err, "quarantine");
		q_close(q);
		return -1;
	}
	*out = q;
	return 0;
}

static int q_batch_end(void *state, bool keep, struct tm_error *err);

static void q_close(void *state)
{
	struct sq_quarantine *q = state;
	if (q == NULL)
		return;
	q_batch_end(q, false, NULL);
	sqlite3_finalize(q->put);
	sqlite3_close(q->db);
	free(q->dir);
	free(q);
}

static void q_batch_begin(void *state)
{
	struct sq_quarantine *q = state;
	q->batched = true;
}

static int q_batch_end(void *state, bool keep, struct tm_error *err)
{
	struct sq_quarantine *q = state;
	q->batched = false;
	if (!q->in_txn)
		return 0;
	q->in_txn = false;
	if (keep && exec(q, "COMMIT", "commit", err) == 0)
		return 0;
	sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
	return keep ? -1 : 0;
}

/* meta: the id and printable copies (store.c), size at least len */
static int q_put(void *state, const uint8_t *raw, size_t len,
		 const struct gw_quarantine_meta *meta, int64_t now, struct tm_error *err)
{
	struct sq_quarantine *q = state;
	if (q->batched && !q->in_txn) {
		if (exec(q, "BEGIN IMMEDIATE", "begin", err) < 0)
			return -1;
		q->in_txn = true;
	}
	/* the same message again: new metadata, the first quarantined_at; for
	 * the same reason, detail and octets nothing changes */
	static const char sql[] =
		"INSERT INTO quarantine (" META_COLUMNS ", raw) VALUES (?,?,?,?,?,?,?,?,?,?)"
		" ON CONFLICT (id) DO UPDATE SET reason = excluded.reason,"
		" detail = excluded.detail, message_id = excluded.message_id,"
		" serial = excluded.serial, report_id = excluded.report_id, size = excluded.size,"
		" received_at = excluded.received_at, raw = excluded.raw"
		" WHERE reason <> excluded.reason OR detail <> excluded.detail OR raw <> excluded.raw";
	if (q->put == NULL && prepare(q, sql, &q->put, err) < 0)
		return -1;
	sqlite3_stmt *st = q->put;
	sqlite3_bind_text(st, 1, meta->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, meta->reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, meta->detail, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, meta->message_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, meta->serial, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, meta->report_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)meta->size);
	sqlite3_bind_int64(st, 8, meta->received_at);
	sqlite3_bind_int64(st, 9, now);
	sqlite3_bind_blob64(st, 10, len ? (const void *)raw : "", len, SQLITE_STATIC);
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_error(q, "io.write", "put", err);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st); /* the octets and copies are the caller's */
	return rc;
}

/* A row of META_COLUMNS into m. */
static void row_meta(sqlite3_stmt *st, struct gw_quarantine_meta *m)
{
	memset(m, 0, sizeof(*m));
	gw_sq_col_text(st, 0, m->id, sizeof(m->id));
	gw_sq_col_text(st, 1, m->reason, sizeof(m->reason));
	gw_sq_col_text(st, 2, m->detail, sizeof(m->detail));
	gw_sq_col_text(st, 3, m->message_id, sizeof(m->message_id));
	gw_sq_col_text(st, 4, m->serial, sizeof(m->serial));
	gw_sq_col_text(st, 5, m->report_id, sizeof(m->report_id));
	snprintf(m->raw_sha256, sizeof(m->raw_sha256), "%s", m->id);
	m->size = (uint64_t)sqlite3_column_int64(st, 6);
	m->received_at = sqlite3_column_int64(st, 7);
	m->quarantined_at = sqlite3_column_int64(st, 8);
}

/* A full id or unique prefix (well-formed: store.c checked it) to the full id. */
static int q_resolve(void *state, const char *in, char id[GW_SHA256_HEX], struct tm_error *err)
{
	struct sq_quarantine *q = state;
	/* ids are hex: every id with the prefix sorts from the prefix to prefix+'g' */
	char hi[GW_SHA256_HEX + 1];
	snprintf(hi, sizeof(hi), "%sg", in);
	sqlite3_stmt *st = NULL;
	if (prepare(q, "SELECT id FROM quarantine WHERE id >= ? AND id < ? ORDER BY id LIMIT 2",
		    &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, in, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, hi, -1, SQLITE_STATIC);
	int matches = 0, rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (++matches == 1)
			gw_sq_col_text(st, 0, id, GW_SHA256_HEX);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_error(q, "io.read", "lookup", err);
	if (matches == 0)
		return tm_error_set(err, "quarantine.not_found", "quarantine id '%s': no such entry in %s",
				    in, q->dir);
	if (matches > 1)
		return tm_error_set(err, "quarantine.bad_id",
				    "quarantine id '%s': ambiguous, more than one entry starts with it", in);
	return 0;
}

static int q_get(void *state, const char *id, struct gw_quarantine_meta *meta,
		 struct tm_buf *raw, bool *found, struct tm_error *err)
{
	struct sq_quarantine *q = state;
	sqlite3_stmt *st = NULL;
	if (prepare(q, "SELECT " META_COLUMNS ", raw FROM quarantine WHERE id = ?", &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		row_meta(st, meta);
		*found = true;
		rc = 0;
		if (raw != NULL) {
			const void *b = sqlite3_column_blob(st, 9);
			int bl = sqlite3_column_bytes(st, 9);
			if (tm_buf_append(raw, b != NULL ? b : "", (size_t)bl) < 0)
				rc = tm_error_set(err, "internal.nomem", "quarantine: out of memory");
		}
	} else if (rc == SQLITE_DONE) {
		rc = 0;   /* removed meanwhile: store.c says so */
	} else {
		rc = db_error(q, "io.read", "get", err);
	}
	sqlite3_finalize(st);
	return rc;
}

static int q_list(void *state, gw_quarantine_cb cb, void *ctx, struct tm_error *err)
{
	struct sq_quarantine *q = state;
	sqlite3_stmt *st = NULL;
	if (prepare(q, "SELECT " META_COLUMNS " FROM quarantine ORDER BY id LIMIT ?", &st, err) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)GW_QUARANTINE_MAX_ENTRIES + 1);
	int rc = 0, s;
	size_t seen = 0;
	while (rc == 0 && (s = sqlite3_step(st)) == SQLITE_ROW) {
		if (++seen > GW_QUARANTINE_MAX_ENTRIES) {
			rc = tm_error_set(err, "io.too_large", "%s: more than %d entries", q->dir,
					  GW_QUARANTINE_MAX_ENTRIES);
			break;
		}
		struct gw_quarantine_meta m;
		row_meta(st, &m);
		rc = cb(ctx, &m);
	}
	if (rc == 0 && s != SQLITE_DONE)
		rc = db_error(q, "io.read", "list", err);
	sqlite3_finalize(st);
	return rc;
}

/* DELETE with one integer or text parameter; the rows removed into n. */
static int delete_where(struct sq_quarantine *q, const char *sql, const char *text, int64_t num,
			size_t *n, struct tm_error *err)
{
	sqlite3_stmt *st = NULL;
	if (prepare(q, sql, &st, err) < 0)
		return -1;
	if (text != NULL)
		sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 1, num);
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_error(q, "io.write", "remove", err);
	sqlite3_finalize(st);
	if (rc == 0 && n != NULL)
		*n = (size_t)sqlite3_changes(q->db);
	return rc;
}

static int q_remove(void *state, const char *id, struct tm_error *err)
{
	return delete_where(state, "DELETE FROM quarantine WHERE id = ?", id, 0, NULL, err);
}

static int q_purge(void *state, int64_t cutoff, size_t *removed, struct tm_error *err)
{
	return delete_where(state, "DELETE FROM quarantine WHERE quarantined_at < ?", NULL, cutoff,
			    removed, err);
}

const struct gw_quarantine_ops gw_sq_quarantine_ops = {
	.open = q_open,
	.close = q_close,
	.batch_begin = q_batch_begin,
	.batch_end = q_batch_end,
	.put = q_put,
	.resolve = q_resolve,
	.get = q_get,
	.list = q_list,
	.remove = q_remove,
	.purge = q_purge,
};
