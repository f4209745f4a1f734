/* telemail-mailgw — the audit log: every insert, change and deletion
 * (ingest, tenant add and move, enroll, revoke, quarantine release and purge, alert
 * acknowledge, retention purge), append-only and hash-chained.
 *
 * Entry n: (seq n, time, actor, action, object, tenant, before_digest,
 * after_digest, prev_hash = hash of entry n-1 (64 zeros for entry 1), hash).
 * hash = SHA-256 over the canonical serialization
 *
 *   "telemail-audit-v1\n" then, for each field in the order above up to
 *   prev_hash, "<decimal byte length>:<bytes>\n"  (integers in decimal)
 *
 * so no field can bleed into the next. The store refuses UPDATE and DELETE
 * of audit rows (SQLite triggers); `audit verify` recomputes the chain and
 * names the first entry that was edited, deleted or moved. Truncating the
 * newest entries is only visible against a head hash kept elsewhere
 * (`audit verify` prints it; --head HASH checks it). */
#ifndef GW_AUDIT_H
#define GW_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct tm_error;

/* Append one entry. Inside an open batch it joins that transaction (so the
 * entry commits or rolls back with the change it records); outside it runs
 * in a transaction of its own. actor NULL: gw_audit_actor_local(). Digests
 * may be NULL or "" (nothing before / after). */
int gw_audit_append(struct gw_store *st, const char *actor, const char *action,
		    const char *object, const char *tenant, const char *before_digest,
		    const char *after_digest, int64_t now, struct tm_error *err);

/* "user:<login name>" of the effective user (or "uid:<n>"). */
void gw_audit_actor_local(char out[64]);

/* SHA-256 (hex) of a text, for before/after digests of small states. */
void gw_audit_digest(const char *text, char out[GW_SHA256_HEX]);

/* The entry's hash from its fields (prev_hash included, hash ignored). */
void gw_audit_hash(const struct gw_audit_row *a, char out[GW_SHA256_HEX]);

struct gw_audit_verify {
	size_t entries;
	char head[GW_SHA256_HEX];   /* hash of the newest entry ("" when empty) */
};

/* Walk the chain. audit.broken naming the first bad entry: its hash does not
 * match its contents (edited), its seq is not the next one (deleted or
 * moved), or its prev_hash is not the hash before it (reordered, deleted).
 * expect_head non-NULL: the newest hash must be this one (truncation). */
int gw_audit_verify(struct gw_store *st, const char *expect_head, struct gw_audit_verify *out,
		    struct tm_error *err);

#endif
