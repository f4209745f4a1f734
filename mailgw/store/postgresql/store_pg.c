/* telemail-mailgw — the PostgreSQL store back end: several gateways, one
 * database.
 *
 * A handle is one connection (libpq), opened with the configured conninfo
 * and the password read from store.password_file (handed to
 * PQconnectdbParams, never put into a conninfo string that could be
 * printed). A remote server is reached only with sslmode=verify-full: its
 * certificate and host name verified. A batch is one transaction (READ
 * COMMITTED); each put and each item of a batch is a SAVEPOINT, as in the
 * SQLite back end. The connection lost or the server down is
 * store.unavailable (RETRY): the batch is rolled back and retried whole,
 * and the next statement outside a transaction reconnects. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <telemail/buf.h>
#include <telemail/error.h>

#include "store/postgresql/store_pg.h"

/* The password file's limit: a password is a line. */
#define PASSWORD_MAX 1024

/* ---- parameters ---- */

void gw_pg_params_init(struct gw_pg_params *p)
{
	p->n = 0;
}

static int slot(struct gw_pg_params *p)
{
	if (p->n >= GW_PG_PARAMS_MAX)
		abort();   /* a statement of ours with too many parameters: a bug */
	p->len[p->n] = 0;
	p->fmt[p->n] = 0;
	return p->n++;
}

void gw_pg_text(struct gw_pg_params *p, const char *v)
{
	int i = slot(p);
	p->v[i] = v;
}

void gw_pg_opt_text(struct gw_pg_params *p, const char *v)
{
	gw_pg_text(p, v != NULL && v[0] != '\0' ? v : NULL);
}

void gw_pg_int(struct gw_pg_params *p, long long v)
{
	int i = slot(p);
	snprintf(p->num[i], sizeof(p->num[i]), "%lld", v);
	p->v[i] = p->num[i];
}

void gw_pg_opt_int(struct gw_pg_params *p, long long v, long long unset)
{
	if (v == unset)
		gw_pg_text(p, NULL);
	else
		gw_pg_int(p, v);
}

void gw_pg_bytes(struct gw_pg_params *p, const void *v, size_t len)
{
	int i = slot(p);
	p->v[i] = len > 0 ? v : "";
	p->len[i] = (int)len;
	p->fmt[i] = 1;
}

/* ---- results ---- */

void gw_pg_col_text(const PGresult *r, int row, int col, char *out, size_t cap)
{
	const char *t = PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col);
	size_t n = strnlen(t, cap - 1);
	memcpy(out, t, n);
	out[n] = '\0';
}

long long gw_pg_col_int(const PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		return 0;
	return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

const char *gw_pg_sqlstate(const PGresult *r)
{
	const char *s = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	return s != NULL ? s : "";
}

/* libpq's own messages end with a newline */
static void set_msg(struct tm_error *err, const char *reason, const struct gw_pg_conn *c,
		    const char *what, const char *msg)
{
	size_t n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		n--;
	tm_error_set(err, reason, "%s: %s: %.*s", c->where, what, (int)n, msg);
}

int gw_pg_fail(struct gw_pg_conn *c, const PGresult *r, const char *what, struct tm_error *err)
{
	const char *state = gw_pg_sqlstate(r);
	snprintf(c->last_sqlstate, sizeof(c->last_sqlstate), "%s", state);
	const char *msg = r != NULL ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (msg == NULL)
		msg = c->conn != NULL ? PQerrorMessage(c->conn) : "not connected";
	bool lost = c->conn == NULL || PQstatus(c->conn) != CONNECTION_OK || state[0] == '\0';
	/* 08 connection, 53 resources, 57 operator intervention (shutdown),
	 * 58 system error: the server, not this statement */
	if (lost || strncmp(state, "08", 2) == 0 || strncmp(state, "53", 2) == 0 ||
	    (strncmp(state, "57", 2) == 0 && strcmp(state, "57014") != 0) ||
	    strncmp(state, "58", 2) == 0) {
		set_msg(err, "store.unavailable", c, what, msg);
		return GW_STORE_RETRY;
	}
	/* serialisation failure, deadlock, lock or statement timeout */
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
	    strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0) {
		set_msg(err, "store.busy", c, what, msg);
		return GW_STORE_RETRY;
	}
	set_msg(err, "store.failed", c, what, msg);
	return GW_STORE_ERROR;
}

/* ---- connecting ---- */

static void no_notices(void *arg, const char *message)
{
	(void)arg;
	(void)message;   /* a library never prints */
}

static int session_setup(struct gw_pg_conn *c, struct tm_error *err)
{
	PQsetNoticeProcessor(c->conn, no_notices, NULL);
	/* a writer waits this long for a lock, as SQLite's busy timeout; no
	 * JIT: the gateway's statements are short, and for a command's big
	 * read (billing of a fleet) compiling cost more than it saved; no
	 * parallel workers: on a year of a fleet a device's supply history was
	 * planned with two, whose start took 2 ms of its 2.2 ms, at every
	 * stored report that moved a supply (billing, devices and supplies of
	 * that year ran as fast without); a report's JSON (3 KB and more)
	 * compressed with LZ4 where the server has it: 28 us of the server's
	 * time a report less than with pglz, its default (pgbench) */
	char sql[320];
	snprintf(sql, sizeof(sql), "SET lock_timeout = %d; SET jit = off;"
		 " SET max_parallel_workers_per_gather = 0;"
		 " SELECT set_config(name, 'lz4', false) FROM pg_settings"
		 " WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)",
		 c->busy_timeout_ms);
	PGresult *r = PQexec(c->conn, sql);
	int rc = PQresultStatus(r) == PGRES_TUPLES_OK ? GW_STORE_OK
						      : gw_pg_fail(c, r, "session setup", err);
	PQclear(r);
	return rc;
}

int gw_pg_ready(struct gw_pg_conn *c, struct tm_error *err)
{
	if (c->conn != NULL && PQstatus(c->conn) == CONNECTION_OK)
		return GW_STORE_OK;
	if (c->conn == NULL) {
		c->conn = PQconnectdbParams(c->keys, c->vals, 0);
		if (c->conn == NULL)
			return tm_error_set(err, "internal.nomem", "store: out of memory");
	} else {
		PQreset(c->conn);
	}
	if (PQstatus(c->conn) != CONNECTION_OK) {
		set_msg(err, "store.unavailable", c, "connect", PQerrorMessage(c->conn));
		return GW_STORE_RETRY;
	}
	c->in_tx = false;
	gw_pg_stmts_forget(c);   /* a new session */
	return session_setup(c, err);
}

static bool is_local_host(const char *h, size_t n)
{
	if (n == 0 || h[0] == '/' || h[0] == '@')
		return true;   /* the default socket, a socket directory, an abstract socket */
	static const char *const loopback[] = { "localhost", "127.0.0.1", "::1" };
	for (size_t i = 0; i < sizeof(loopback) / sizeof(loopback[0]); i++)
		if (strlen(loopback[i]) == n && strncmp(h, loopback[i], n) == 0)
			return true;
	return false;
}

/* The first remote host of a comma-separated list, or NULL. */
static const char *remote_host(const char *list, size_t *len)
{
	for (const char *p = list; p != NULL && *p != '\0';) {
		const char *e = strchr(p, ',');
		size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
		if (!is_local_host(p, n)) {
			*len = n;
			return p;
		}
		p = e != NULL ? e + 1 : NULL;
	}
	return NULL;
}

static int read_password(const char *file, char *out, size_t cap, struct tm_error *err)
{
	struct stat st;
	if (stat(file, &st) < 0)
		return tm_error_set(err, "config.bad_value", "store.password_file: %s: %s", file,
				    strerror(errno));
	if (st.st_mode & S_IROTH)
		return tm_error_set(err, "config.bad_value",
				    "store.password_file: %s: readable by every user (chmod o-r)", file);
	struct tm_buf b;
	tm_buf_init(&b);
	if (tm_buf_read_file(&b, file, PASSWORD_MAX, err) < 0) {
		tm_buf_fini(&b);
		tm_error_prefix(err, "store.password_file");
		return -1;
	}
	size_t n = b.len;
	while (n > 0 && (b.data[n - 1] == '\n' || b.data[n - 1] == '\r'))
		n--;
	int rc = 0;
	if (n == 0 || n >= cap || memchr(b.data, '\0', n) != NULL || memchr(b.data, '\n', n) != NULL)
		rc = tm_error_set(err, "config.bad_value",
				  "store.password_file: %s: want one line, the password", file);
	else {
		memcpy(out, b.data, n);
		out[n] = '\0';
	}
	memset(b.data, 0, b.len);
	tm_buf_fini(&b);
	return rc;
}

/* conninfo (+ password) → keyword/value arrays that own their strings. */
static int build_params(struct gw_pg_conn *c, const struct gw_store_options *o,
			struct tm_error *err)
{
	if (o->conninfo == NULL || o->conninfo[0] == '\0')
		return tm_error_set(err, "config.bad_value",
				    "store.conninfo: empty (the postgresql back end needs one, e.g. "
				    "\"host=/run/postgresql dbname=telemail user=telemail\")");
	char *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(o->conninfo, &perr);
	if (opts == NULL) {
		int rc = tm_error_set(err, "config.bad_value", "store.conninfo: %s",
				      perr != NULL ? perr : "out of memory");
		PQfreemem(perr);
		return rc;
	}
	int rc = 0;
	const char *host = "", *hostaddr = "", *sslmode = "", *dbname = "", *user = "", *port = "";
	size_t n = 0, bytes = 0;
	for (PQconninfoOption *p = opts; p->keyword != NULL; p++) {
		if (p->val == NULL)
			continue;
		if (strcmp(p->keyword, "password") == 0)
			rc = tm_error_set(err, "config.bad_value",
					  "store.conninfo: holds a password: put it in "
					  "store.password_file instead (a conninfo is shown in "
					  "messages and by status)");
		if (strcmp(p->keyword, "host") == 0)
			host = p->val;
		if (strcmp(p->keyword, "hostaddr") == 0)
			hostaddr = p->val;
		if (strcmp(p->keyword, "sslmode") == 0)
			sslmode = p->val;
		if (strcmp(p->keyword, "dbname") == 0)
			dbname = p->val;
		if (strcmp(p->keyword, "user") == 0)
			user = p->val;
		if (strcmp(p->keyword, "port") == 0)
			port = p->val;
		n++;
		bytes += strlen(p->keyword) + strlen(p->val) + 2;
	}
	size_t rlen = 0;
	const char *remote = remote_host(host[0] != '\0' ? host : hostaddr, &rlen);
	if (rc == 0 && remote != NULL && strcmp(sslmode, "verify-full") != 0)
		rc = tm_error_set(err, "config.bad_value",
				  "store.conninfo: host %.*s is not on this machine: add "
				  "sslmode=verify-full (and sslrootcert=THE-CA.pem) so that the "
				  "server's certificate and name are verified; without it the "
				  "records and the password could go to whoever answers",
				  (int)(rlen > 100 ? 100 : rlen), remote);
	snprintf(c->where, sizeof(c->where), "postgresql%s%s%s%s%s%s%s%s",
		 host[0] ? " host=" : "", host, port[0] ? " port=" : "", port,
		 dbname[0] ? " dbname=" : "", dbname, user[0] ? " user=" : "", user);
	char password[PASSWORD_MAX];
	password[0] = '\0';
	if (rc == 0 && o->password_file != NULL && o->password_file[0] != '\0')
		rc = read_password(o->password_file, password, sizeof(password), err);
	/* ours: the password, client_encoding, application_name, connect_timeout */
	n += 4;
	bytes += strlen(password) + 128;
	if (rc == 0) {
		c->keys = calloc(n + 1, sizeof(*c->keys));
		c->vals = calloc(n + 1, sizeof(*c->vals));
		c->storage = malloc(bytes);
		if (c->keys == NULL || c->vals == NULL || c->storage == NULL)
			rc = tm_error_set(err, "internal.nomem", "store: out of memory");
	}
	if (rc == 0) {
		size_t k = 0;
		char *w = c->storage;
#define ADD(key, val)                                                    \
	do {                                                             \
		size_t kl_ = strlen(key) + 1, vl_ = strlen(val) + 1;     \
		c->keys[k] = memcpy(w, key, kl_);                        \
		w += kl_;                                                \
		c->vals[k++] = memcpy(w, val, vl_);                      \
		w += vl_;                                                \
	} while (0)
		bool has_app = false, has_timeout = false;
		for (PQconninfoOption *p = opts; p->keyword != NULL; p++) {
			if (p->val == NULL || strcmp(p->keyword, "client_encoding") == 0)
				continue;
			has_app = has_app || strcmp(p->keyword, "application_name") == 0;
			has_timeout = has_timeout || strcmp(p->keyword, "connect_timeout") == 0;
			ADD(p->keyword, p->val);
		}
		ADD("client_encoding", "UTF8");
		if (!has_app)
			ADD("application_name", "telemail-mailgw");
		if (!has_timeout)
			ADD("connect_timeout", "10");
		if (password[0] != '\0')
			ADD("password", password);
#undef ADD
	}
	memset(password, 0, sizeof(password));
	PQconninfoFree(opts);
	return rc;
}

void gw_pg_disconnect(struct gw_pg_conn *c)
{
	if (c->conn != NULL)
		PQfinish(c->conn);
	c->conn = NULL;
	if (c->storage != NULL) {
		/* the password was among them */
		for (size_t i = 0; c->keys != NULL && c->keys[i] != NULL; i++)
			if (strcmp(c->keys[i], "password") == 0)
				memset((char *)c->vals[i], 0, strlen(c->vals[i]));
	}
	gw_pg_stmts_free(c);
	c->pipe = NULL;   /* a pipe of that session's is gone with it */
	free(c->keys);
	free(c->vals);
	free(c->storage);
	c->keys = c->vals = NULL;
	c->storage = NULL;
}

int gw_pg_connect(struct gw_pg_conn *c, const struct gw_store_options *o, struct tm_error *err)
{
	memset(c, 0, sizeof(*c));
	c->busy_timeout_ms = o->busy_timeout_ms > 0 ? o->busy_timeout_ms : 5000;
	if (build_params(c, o, err) < 0) {
		gw_pg_disconnect(c);
		return GW_STORE_ERROR;
	}
	int rc = gw_pg_ready(c, err);
	if (rc != GW_STORE_OK)
		gw_pg_disconnect(c);
	return rc;
}

/* ---- schema versions ---- */

#define MIGRATION_LOCK "7454656c656d6169"   /* an advisory lock key of our own */

int gw_pg_schema_version(struct gw_pg_conn *c, int *in_db, struct tm_error *err)
{
	PGresult *r;
	*in_db = 0;
	int rc = gw_pg_exec(c, "SELECT to_regclass('telemail_schema') IS NOT NULL", NULL, &r,
			    "read schema version", err);
	if (rc != GW_STORE_OK)
		return rc;
	bool exists = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (!exists)
		return GW_STORE_OK;
	rc = gw_pg_exec(c, "SELECT coalesce(max(version), 0) FROM telemail_schema", NULL, &r,
			"read schema version", err);
	if (rc != GW_STORE_OK)
		return rc;
	*in_db = (int)gw_pg_col_int(r, 0, 0);
	PQclear(r);
	return GW_STORE_OK;
}

int gw_pg_migrate(struct gw_pg_conn *c, struct tm_error *err)
{
	int known = (int)gw_pg_n_migrations, v = 0;
	int rc = gw_pg_schema_version(c, &v, err);
	if (rc != GW_STORE_OK || v == known)
		return rc;
	if (v > known)
		return gw_store_refuse_newer(c->where, v, known, err);
	rc = gw_pg_exec(c, "BEGIN", NULL, NULL, "begin migration", err);
	if (rc != GW_STORE_OK)
		return rc;
	c->in_tx = true;
	/* one gateway migrates; the others wait here and then find it done */
	rc = gw_pg_exec(c, "SELECT pg_advisory_xact_lock(x'" MIGRATION_LOCK "'::bigint);"
			"CREATE TABLE IF NOT EXISTS telemail_schema ("
			" version integer PRIMARY KEY, applied_at bigint NOT NULL)",
			NULL, NULL, "lock for migration", err);
	if (rc == GW_STORE_OK)
		rc = gw_pg_schema_version(c, &v, err);
	if (rc == GW_STORE_OK && v > known)
		rc = gw_store_refuse_newer(c->where, v, known, err);
	for (; rc == GW_STORE_OK && v < known; v++) {
		for (size_t k = 0; rc == GW_STORE_OK && gw_pg_migrations[v][k] != NULL; k++)
			rc = gw_pg_exec(c, gw_pg_migrations[v][k], NULL, NULL, "migration", err);
		if (rc != GW_STORE_OK) {
			tm_error_prefix(err, "migration %d", v + 1);
			break;
		}
		struct gw_pg_params p;
		gw_pg_params_init(&p);
		gw_pg_int(&p, v + 1);
		rc = gw_pg_exec(c, "INSERT INTO telemail_schema (version, applied_at)"
				" VALUES ($1, extract(epoch FROM now())::bigint)", &p, NULL,
				"set schema version", err);
	}
	if (rc == GW_STORE_OK) {
		PGresult *r;
		rc = gw_pg_exec(c, "COMMIT", NULL, &r, "commit migration", err);
		if (rc == GW_STORE_OK) {
			if (strcmp(PQcmdStatus(r), "COMMIT") != 0)
				rc = tm_error_set(err, "store.failed", "%s: migration rolled back",
						  c->where);
			PQclear(r);
		}
	} else {
		gw_pg_exec(c, "ROLLBACK", NULL, NULL, "rollback", NULL);
	}
	c->in_tx = false;
	return rc;
}

/* ---- the ops: open, close, transactions ---- */

static void pg_close(void *state)
{
	struct gw_pg *s = state;
	if (s == NULL)
		return;
	if (s->c.in_tx && s->c.conn != NULL) {
		struct tm_error ignored = {0};
		gw_pg_later_flush(&s->c, &ignored);
		PQclear(PQexec(s->c.conn, "ROLLBACK"));
	}
	gw_pg_disconnect(&s->c);
	free(s->copy_ids);
	free(s);
}

static int pg_open(const struct gw_store_options *o, void **state, struct tm_error *err)
{
	*state = NULL;
	struct gw_pg *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return tm_error_set(err, "internal.nomem", "store: out of memory");
	s->forward = o->forward;
	int rc = gw_pg_connect(&s->c, o, err);
	if (rc != GW_STORE_OK) {
		free(s);
		return rc;
	}
	if (o->schema == GW_STORE_SCHEMA_MIGRATE)
		rc = gw_pg_migrate(&s->c, err);
	if (rc != GW_STORE_OK) {
		pg_close(s);
		return rc;
	}
	*state = s;
	return GW_STORE_OK;
}

static int pg_begin(void *state, struct tm_error *err)
{
	struct gw_pg *s = state;
	int rc = gw_pg_exec(&s->c, "BEGIN", NULL, NULL, "begin", err);
	if (rc == GW_STORE_OK)
		s->c.in_tx = true;
	return rc;
}

static int pg_commit(void *state, struct tm_error *err)
{
	struct gw_pg *s = state;
	PGresult *r;
	int rc = gw_pg_exec(&s->c, "COMMIT", NULL, &r, "commit", err);
	if (rc != GW_STORE_OK)
		return rc;
	/* COMMIT of a transaction that failed earlier answers ROLLBACK */
	bool committed = strcmp(PQcmdStatus(r), "COMMIT") == 0;
	PQclear(r);
	s->c.in_tx = false;
	if (!committed)
		return tm_error_set(err, "store.failed",
				    "%s: commit: the transaction had failed and was rolled back",
				    s->c.where);
	return GW_STORE_OK;
}

static void pg_rollback(void *state)
{
	struct gw_pg *s = state;
	struct tm_error ignored = {0};
	gw_pg_later_flush(&s->c, &ignored);   /* what was sent ahead: undone below */
	if (s->c.conn != NULL && PQstatus(s->c.conn) == CONNECTION_OK)
		PQclear(PQexec(s->c.conn, "ROLLBACK"));
	s->c.in_tx = false;
	s->c.tx_epoch++;
	gw_pg_months_forget(s);   /* partitions it made are undone */
}

static int pg_item_begin(void *state, struct tm_error *err)
{
	struct gw_pg *s = state;
	/* sent ahead: it goes with the item's first read */
	return gw_pg_exec_later(&s->c, "SAVEPOINT item", NULL, "item savepoint", err);
}

static int pg_item_end(void *state, bool keep, struct tm_error *err)
{
	struct gw_pg *s = state;
	if (!keep)
		gw_pg_months_forget(s);   /* partitions it made are undone */
	return gw_pg_exec(&s->c, keep ? "RELEASE SAVEPOINT item"
				      : "ROLLBACK TO SAVEPOINT item; RELEASE SAVEPOINT item",
			  NULL, NULL, keep ? "item release" : "item rollback", err);
}

static int pg_schema_version(void *state, int *in_db, int *known, struct tm_error *err)
{
	struct gw_pg *s = state;
	*known = (int)gw_pg_n_migrations;
	return gw_pg_schema_version(&s->c, in_db, err);
}

static int pg_migrate(void *state, struct tm_error *err)
{
	struct gw_pg *s = state;
	return gw_pg_migrate(&s->c, err);
}

const struct gw_store_ops gw_store_pg_ops = {
	.name = "postgresql",
	.remote = true,
	.open = pg_open,
	.close = pg_close,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.item_begin = pg_item_begin,
	.item_end = pg_item_end,
	.lock_devices = gw_pg_lock_devices,
	.put = gw_pg_put,
	.log = gw_pg_log,
	.msglog_get = gw_pg_msglog_get,
	.report_get = gw_pg_report_get,
	.tenant_add = gw_pg_tenant_add,
	.tenant_get = gw_pg_tenant_get,
	.tenant_set_parent = gw_pg_tenant_set_parent,
	.tenant_list = gw_pg_tenant_list,
	.cert_add = gw_pg_cert_add,
	.cert_get = gw_pg_cert_get,
	.cert_revoke = gw_pg_cert_revoke,
	.cert_list = gw_pg_cert_list,
	.binding_add = gw_pg_binding_add,
	.binding_has = gw_pg_binding_has,
	.device_add = gw_pg_device_add,
	.device_get = gw_pg_device_get,
	.signer_get = gw_pg_signer_get,
	.device_list = gw_pg_device_list,
	.unreachable_list = gw_pg_unreachable_list,
	.alert_find_active = gw_pg_alert_find_active,
	.alert_insert = gw_pg_alert_insert,
	.alert_update = gw_pg_alert_update,
	.alert_get = gw_pg_alert_get,
	.alert_list = gw_pg_alert_list,
	.mark_get = gw_pg_mark_get,
	.mark_set = gw_pg_mark_set,
	.alert_repeat = gw_pg_alert_repeat,
	.alert_list_device = gw_pg_alert_list_device,
	.mark_list = gw_pg_mark_list,
	.device_load = gw_pg_device_load,
	.mark_set_many = gw_pg_mark_set_many,
	.notify_add = gw_pg_notify_add,
	.notify_update = gw_pg_notify_update,
	.notify_list = gw_pg_notify_list,
	.audit_last = gw_pg_audit_last,
	.audit_insert = gw_pg_audit_insert,
	.audit_list = gw_pg_audit_list,
	.meter_list = gw_pg_meter_list,
	.meter_range = gw_pg_meter_range,
	.supply_list = gw_pg_supply_list,
	.schema_version = pg_schema_version,
	.migrate = pg_migrate,
	.quarantine = &gw_pg_quarantine_ops,
	.collector_bindings = gw_pg_collector_bindings,
	.table_count = gw_pg_table_count,
	.table_write = gw_pg_table_write,
	.copy_begin = gw_pg_copy_begin,
	.copy_end = gw_pg_copy_end,
	.reporting_grant = gw_pg_reporting_grant,
	.reporting_revoke = gw_pg_reporting_revoke,
	.retention_purge = gw_pg_retention_purge,
	.notify_claim = gw_pg_notify_claim,
	.notify_release = gw_pg_notify_release,
	.try_singleton = gw_pg_try_singleton,
	.shared_counts = gw_pg_shared_counts,
	.fwd_add = gw_pg_fwd_add,
	.fwd_fanout = gw_pg_fwd_fanout,
	.fwd_claim = gw_pg_fwd_claim,
	.fwd_done = gw_pg_fwd_done,
	.fwd_stats = gw_pg_fwd_stats,
	.fwd_dead_list = gw_pg_fwd_dead_list,
	.fwd_dead_retry = gw_pg_fwd_dead_retry,
	.fwd_dead_drop = gw_pg_fwd_dead_drop,
	.web_devices = gw_pg_web_devices,
	.web_supplies = gw_pg_web_supplies,
	.web_supply_history = gw_pg_web_supply_history,
	.web_counter_history = gw_pg_web_counter_history,
	.web_reports = gw_pg_web_reports,
	.web_firmware = gw_pg_web_firmware,
	.web_counters = gw_pg_web_counters,
	.web_outcomes = gw_pg_web_outcomes,
	.supply_history = gw_pg_supply_history,
	.supply_tail_get = gw_pg_supply_tail_get,
	.supply_rule_get = gw_pg_supply_rule_get,
	.supply_rule_set = gw_pg_supply_rule_set,
	.order_insert = gw_pg_order_insert,
	.order_update = gw_pg_order_update,
	.order_get = gw_pg_order_get,
	.order_find = gw_pg_order_find,
	.order_list = gw_pg_order_list,
	.order_event_insert = gw_pg_order_event_insert,
	.order_event_list = gw_pg_order_event_list,
	.meter_decision_set = gw_pg_meter_decision_set,
	.meter_decision_list = gw_pg_meter_decision_list,
	.meter_get = gw_pg_meter_get,
	.meter_adjacent = gw_pg_meter_adjacent,
	.supply_forecast_set = gw_pg_supply_forecast_set,
	.meter_adjacent_many = gw_pg_meter_adjacent_many,
	.report_reads = gw_pg_report_reads,
	.supply_before = gw_pg_supply_before,
	.supply_before_many = gw_pg_supply_before_many,
};
