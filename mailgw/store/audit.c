/* telemail-mailgw — the hash-chained audit log (see audit.h). */
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <telemail/buf.h>
#include <telemail/digest.h>
#include <telemail/error.h>

#include "store/audit.h"

static const char genesis[] = "0000000000000000000000000000000000000000000000000000000000000000";

void gw_audit_actor_local(char out[64])
{
	struct passwd pw, *res = NULL;
	char buf[1024];
	uid_t uid = geteuid();
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res != NULL)
		snprintf(out, 64, "user:%.50s", pw.pw_name);
	else
		snprintf(out, 64, "uid:%lu", (unsigned long)uid);
}

void gw_audit_digest(const char *text, char out[GW_SHA256_HEX])
{
	tm_sha256_hex(text, strlen(text), out);
}

/* "%zu:%s\n" of the string, without the formatter (one per field, nine
 * per entry, on the writer's path). */
static void field(struct tm_buf *b, const char *s)
{
	size_t len = strlen(s), v = len;
	char num[24];
	size_t i = sizeof(num);
	num[--i] = ':';
	do {
		num[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	tm_buf_append(b, num + i, sizeof(num) - i);
	tm_buf_append(b, s, len);
	tm_buf_append(b, "\n", 1);
}

static void field_int(struct tm_buf *b, int64_t v)
{
	char n[32];
	snprintf(n, sizeof(n), "%" PRId64, v);
	field(b, n);
}

void gw_audit_hash(const struct gw_audit_row *a, char out[GW_SHA256_HEX])
{
	/* fixed-size fields: 2 KiB always suffices, so the buffer never fails
	 * to grow; on out-of-memory the hash is of nothing and verify fails */
	struct tm_buf b;
	tm_buf_init(&b);
	tm_buf_append_str(&b, "telemail-audit-v1\n");
	field_int(&b, a->seq);
	field_int(&b, a->time);
	field(&b, a->actor);
	field(&b, a->action);
	field(&b, a->object);
	field(&b, a->tenant);
	field(&b, a->before_digest);
	field(&b, a->after_digest);
	field(&b, a->prev_hash);
	tm_sha256_hex(b.data != NULL ? (const void *)b.data : "", b.len, out);
	tm_buf_fini(&b);
}

static int copy_field(char *dst, size_t cap, const char *src, const char *what,
		      struct tm_error *err)
{
	src = src != NULL ? src : "";
	if (strlen(src) >= cap)
		return tm_error_set(err, "internal.bug", "audit: %s longer than %zu bytes", what,
				    cap - 1);
	memcpy(dst, src, strlen(src) + 1);
	return 0;
}

static int append_in_tx(struct gw_store *st, struct gw_audit_row *a, struct tm_error *err)
{
	struct gw_audit_row last;
	bool found = false;
	int rc = gw_store_audit_last(st, &last, &found, err);
	if (rc != GW_STORE_OK)
		return rc;
	a->seq = found ? last.seq + 1 : 1;
	memcpy(a->prev_hash, found ? last.hash : genesis, GW_SHA256_HEX);
	gw_audit_hash(a, a->hash);
	return gw_store_audit_insert(st, a, err);
}

int gw_audit_append(struct gw_store *st, const char *actor, const char *action,
		    const char *object, const char *tenant, const char *before_digest,
		    const char *after_digest, int64_t now, struct tm_error *err)
{
	struct gw_audit_row a;
	memset(&a, 0, sizeof(a));
	a.time = now;
	if (actor == NULL)
		gw_audit_actor_local(a.actor);
	else if (copy_field(a.actor, sizeof(a.actor), actor, "actor", err) < 0)
		return GW_STORE_ERROR;
	if (copy_field(a.action, sizeof(a.action), action, "action", err) < 0 ||
	    copy_field(a.object, sizeof(a.object), object, "object", err) < 0 ||
	    copy_field(a.tenant, sizeof(a.tenant), tenant, "tenant", err) < 0 ||
	    copy_field(a.before_digest, sizeof(a.before_digest), before_digest, "before", err) < 0 ||
	    copy_field(a.after_digest, sizeof(a.after_digest), after_digest, "after", err) < 0)
		return GW_STORE_ERROR;
	if (gw_store_in_batch(st))
		return append_in_tx(st, &a, err);
	int rc = gw_store_begin(st, err);
	if (rc != GW_STORE_OK)
		return rc;
	rc = append_in_tx(st, &a, err);
	if (rc == GW_STORE_OK)
		rc = gw_store_commit(st, err);
	if (rc != GW_STORE_OK)
		gw_store_rollback(st);
	return rc;
}

struct walk {
	int64_t expect_seq;
	char prev[GW_SHA256_HEX];
	size_t n;
	struct tm_error *err;
};

static int check_entry(void *ctx, const struct gw_audit_row *a)
{
	struct walk *w = ctx;
	char h[GW_SHA256_HEX];
	gw_audit_hash(a, h);
	if (a->seq != w->expect_seq)
		return tm_error_set(w->err, "audit.broken",
				    "entry %" PRId64 ": expected seq %" PRId64
				    " here (an entry was deleted or moved)", a->seq, w->expect_seq);
	if (strcmp(a->prev_hash, w->prev) != 0)
		return tm_error_set(w->err, "audit.broken",
				    "entry %" PRId64 ": prev_hash does not match the hash of the entry "
				    "before it (entries were reordered or deleted)", a->seq);
	if (strcmp(h, a->hash) != 0)
		return tm_error_set(w->err, "audit.broken",
				    "entry %" PRId64 ": hash does not match its contents (the entry was "
				    "edited)", a->seq);
	memcpy(w->prev, a->hash, GW_SHA256_HEX);
	w->expect_seq++;
	w->n++;
	return 0;
}

int gw_audit_verify(struct gw_store *st, const char *expect_head, struct gw_audit_verify *out,
		    struct tm_error *err)
{
	struct walk w = { .expect_seq = 1, .err = err };
	memcpy(w.prev, genesis, GW_SHA256_HEX);
	memset(out, 0, sizeof(*out));
	int rc = gw_store_audit_list(st, check_entry, &w, err);
	if (rc != GW_STORE_OK)
		return rc < 0 ? rc : GW_STORE_ERROR;
	out->entries = w.n;
	if (w.n > 0)
		memcpy(out->head, w.prev, GW_SHA256_HEX);
	if (expect_head != NULL && strcmp(expect_head, out->head) != 0)
		return tm_error_set(err, "audit.broken",
				    "the newest entry (%zu) has hash %.16s..., not the expected head "
				    "%.16s... (entries after it were removed)", w.n, out->head, expect_head);
	return GW_STORE_OK;
}
