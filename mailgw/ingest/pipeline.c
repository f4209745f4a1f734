/* telemail-mailgw — the path of one message (see pipeline.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <telemail/digest.h>
#include <telemail/normalize.h>
#include <telemail/report.h>
#include <telemail/smime.h>

#include "service/alerts.h"
#include "config/config.h"
#include "ingest/pipeline.h"
#include "store/quarantine.h"
#include "registry/registry.h"

int gw_pipeline_init(struct gw_pipeline *p, const struct gw_config *cfg, struct tm_error *err)
{
	memset(p, 0, sizeof(*p));
	p->cfg = cfg;
	p->keys = tm_keyring_new();
	if (p->keys == NULL)
		return tm_error_set(err, "internal.nomem", "out of memory");
	for (size_t i = 0; i < cfg->n_keys; i++) {
		if (tm_keyring_add_files(p->keys, cfg->keys[i].cert, cfg->keys[i].key, err) < 0) {
			tm_error_prefix(err, "gateway.keys[%zu]", i);
			goto fail;
		}
	}
	if (tm_trust_load(cfg->ca_file, cfg->crl_file, &p->trust, err) < 0) {
		tm_error_prefix(err, "trust");
		goto fail;
	}
	return 0;
fail:
	gw_pipeline_fini(p);
	return -1;
}

void gw_pipeline_fini(struct gw_pipeline *p)
{
	tm_keyring_free(p->keys);
	tm_trust_free(p->trust);
	p->keys = NULL;
	p->trust = NULL;
}

void gw_item_init(struct gw_item *it, const char *source, uint8_t *raw, size_t len,
		  int64_t received_at)
{
	memset(it, 0, sizeof(*it));
	snprintf(it->source, sizeof(it->source), "%s", source);
	it->raw = raw;
	it->len = len;
	it->size = len;
	it->received_at = received_at;
	tm_buf_init(&it->json);
}

void gw_item_fini(struct gw_item *it)
{
	free(it->raw);
	it->raw = NULL;
	tm_report_free(it->report);
	it->report = NULL;
	tm_buf_fini(&it->json);
}

/* The first GW_ITEM_KEEP_OVERSIZE octets of a file too large to hold, the
 * SHA-256 and size of all of it; e: io.too_large, or why it failed. */
static void read_oversize(struct gw_item *it, const char *path, size_t max, struct tm_error *e)
{
	uint8_t *head = malloc(GW_ITEM_KEEP_OVERSIZE);
	if (head == NULL) {
		tm_error_set(e, "internal.nomem", "%s: out of memory", path);
		return;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		tm_error_set(e, "io.open", "%s: %s", path, strerror(errno));
		free(head);
		return;
	}
	size_t kept = 0;
	uint64_t size = 0;
	if (tm_sha256_hex_fd(fd, head, GW_ITEM_KEEP_OVERSIZE, &kept, &size, it->raw_sha256) < 0) {
		tm_error_set(e, "io.read", "%s: %s", path, strerror(errno));
		it->raw_sha256[0] = '\0';
		free(head);
	} else {
		it->raw = head;
		it->len = kept;
		it->size = size;
		tm_error_set(e, "io.too_large",
			     "%s: %" PRIu64 " octets, more than the %zu-octet limit; the first %zu "
			     "octets are kept", path, size, max, kept);
	}
	close(fd);
}

struct gw_item *gw_item_read_file(const char *path, const char *source, size_t max,
				  int64_t received_at)
{
	struct gw_item *it = malloc(sizeof(*it));
	if (it == NULL)
		return NULL;
	gw_item_init(it, source, NULL, 0, received_at);
	struct tm_error e = {0};
	struct stat st;
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size > max) {
		read_oversize(it, path, max, &e); /* not even tried whole */
	} else {
		struct tm_buf b;
		tm_buf_init(&b);
		int rc = tm_buf_read_file(&b, path, max, &e);
		if (rc == 0)
			it->raw = tm_buf_take(&b, &it->len);
		it->size = it->len;
		tm_buf_fini(&b);
		if (rc < 0 && strcmp(e.reason, "io.too_large") == 0)
			read_oversize(it, path, max, &e); /* it grew while it was read */
	}
	it->err = e; /* reason NULL: read whole */
	return it;
}

void gw_item_ensure_sha256(struct gw_item *it)
{
	if (!gw_store_is_sha256_hex(it->raw_sha256))
		tm_sha256_hex(it->raw != NULL ? (const void *)it->raw : "", it->len, it->raw_sha256);
}

static void copy_str(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

static void drop_report(struct gw_item *it)
{
	tm_report_free(it->report);
	it->report = NULL;
	tm_buf_reset(&it->json);
}

void gw_pipeline_prepare(const struct gw_pipeline *p, struct gw_store *reader,
			 struct gw_item *it, int64_t now)
{
	struct tm_opened op;
	tm_opened_init(&op);
	tm_error_clear(&it->err);
	tm_sha256_hex(it->raw, it->len, it->raw_sha256);

	/* the arrival bounds the signing time and is when CRLs are applied: a
	 * message that waited in the spool or the quarantine is judged as it
	 * arrived */
	struct tm_open_opts oo = {
		.keys = p->keys, .trust = p->trust, .allow_cbc = p->cfg->allow_cbc,
		.now = it->received_at > 0 ? it->received_at : now,
		.max_age = p->cfg->max_message_age,
	};
	int orc = tm_smime_open(&oo, it->raw, it->len, &op, &it->err);
	/* what the open learned, also when it failed (for the log and quarantine) */
	copy_str(it->message_id, sizeof(it->message_id), op.message_id);
	copy_str(it->fingerprint, sizeof(it->fingerprint), op.fingerprint);
	copy_str(it->serial, sizeof(it->serial), op.serial);
	if (orc < 0)
		goto out;

	if (tm_report_read(op.content.data, op.content.len, NULL, &it->report, &it->err) < 0)
		goto out;
	copy_str(it->serial, sizeof(it->serial), it->report->serial);
	copy_str(it->report_id, sizeof(it->report_id), it->report->id);

	/* identity binding: may this signer report for this serial? */
	struct gw_registry_auto ae = {
		.tenant = p->cfg->auto_enroll_tenant, .cert_serial = op.serial,
		.subject = op.subject, .now = now,
	};
	if (gw_registry_check(reader, op.fingerprint, it->report->serial,
			      p->cfg->auto_enroll_tenant ? &ae : NULL, it->tenant, &it->err) != 0 ||
	    gw_store_check_future(it->report, now, p->cfg->max_future_skew, &it->err) != 0 ||
	    gw_store_check_signing_time(it->report, op.signing_time, p->cfg->max_future_skew,
					&it->err) != 0)
		goto out;
	tm_report_normalize(it->report, &it->json, &it->err);
out:
	/* a failure after the report was read: drop the model, keep what we learned */
	if (it->err.reason != NULL && it->report != NULL)
		drop_report(it);
	tm_opened_fini(&op);
}

static int quarantine_item(struct gw_store *st, struct gw_quarantine *q, struct gw_item *it,
			   int64_t now, struct tm_error *err)
{
	struct gw_quarantine_meta m = { .received_at = it->received_at, .size = it->size };
	copy_str(m.reason, sizeof(m.reason), it->err.reason);
	copy_str(m.detail, sizeof(m.detail), it->err.msg);
	size_t len = it->len;
	if (len > GW_QUARANTINE_MAX_RAW) { /* too large to keep whole: its head */
		len = GW_ITEM_KEEP_OVERSIZE;
		size_t dl = strlen(m.detail);
		snprintf(m.detail + dl, sizeof(m.detail) - dl, " (the first %zu of %" PRIu64
			 " octets are kept)", len, it->size);
	}
	copy_str(m.message_id, sizeof(m.message_id), it->message_id);
	copy_str(m.raw_sha256, sizeof(m.raw_sha256), it->raw_sha256);
	copy_str(m.serial, sizeof(m.serial), it->serial);
	copy_str(m.report_id, sizeof(m.report_id), it->report_id);
	if (gw_quarantine_put(q, it->raw, len, &m, now, it->quarantine_id, err) < 0)
		/* the raw message must be kept before we say so: its database failing
		 * fails the batch (retried); a refusal of this message alone does not */
		return strncmp(err->reason, "io.", 3) == 0 && strcmp(err->reason, "io.too_large") != 0
		       ? GW_STORE_RETRY : GW_STORE_ERROR;
	struct gw_msglog_entry e = {
		.raw_sha256 = it->raw_sha256, .message_id = it->message_id,
		.received_at = it->received_at, .outcome = GW_OUTCOME_QUARANTINED,
		.reason = it->err.reason, .detail = it->err.msg,
		.report_id = it->report_id[0] ? it->report_id : NULL,
		.quarantine_id = it->quarantine_id,
	};
	int rc = gw_store_log(st, &e, err);
	if (rc == GW_STORE_OK)
		it->outcome = GW_OUTCOME_QUARANTINED;
	return rc;
}

static int defer_item(struct gw_store *st, struct gw_item *it, struct tm_error *err)
{
	struct gw_msglog_entry e = {
		.raw_sha256 = it->raw_sha256, .message_id = it->message_id,
		.received_at = it->received_at, .outcome = GW_OUTCOME_DEFERRED,
		.reason = it->err.reason, .detail = it->err.msg,
		.report_id = it->report_id[0] ? it->report_id : NULL,
	};
	int rc = gw_store_log(st, &e, err);
	if (rc == GW_STORE_OK)
		it->outcome = GW_OUTCOME_DEFERRED;
	return rc;
}

/* One item inside the open transaction. */
static int commit_one(const struct gw_pipeline *p, struct gw_store *st, struct gw_quarantine *q,
		      struct gw_item *it, int64_t now, struct tm_error *err)
{
	if (it->err.reason == NULL) {
		struct gw_store_record r = {
			.report = it->report, .json = (const char *)it->json.data,
			.json_len = it->json.len, .tenant = it->tenant,
			.fingerprint = it->fingerprint, .message_id = it->message_id,
			.received_at = it->received_at, .raw_sha256 = it->raw_sha256,
		};
		/* alerts, supplies, meters and the audit entry, in the same
		 * transaction: prepared first, so that their reads go with the
		 * put's last round trip where the store can (gw_alerts_prepare) */
		const struct gw_config *cfg = p != NULL ? p->cfg : NULL;
		const struct gw_service_config *svc = cfg != NULL ? cfg->service : NULL;
		struct gw_alerts_prep *ap = NULL;
		struct tm_error aerr = {0};   /* (a report prepare refuses: refused as before) */
		if (gw_alerts_prepare(st, svc, &r, now, &ap, &aerr) == GW_STORE_OK)
			r.reads = gw_alerts_reads(ap);
		struct gw_put_info info;
		struct tm_error perr = {0};
		int rc = gw_store_put(st, &r, &info, &perr);
		bool stored = rc == GW_STORE_OK && info.result == GW_PUT_STORED;
		if (stored)
			rc = ap != NULL ? gw_alerts_run(ap, &info, err)
					: gw_alerts_on_stored(st, svc, &r, &info, now, err);
		gw_alerts_prep_free(ap);
		if (stored && rc != GW_STORE_OK)
			return rc;
		if (rc == GW_STORE_OK && info.result != GW_PUT_CONFLICT) {
			it->outcome = info.result == GW_PUT_STORED ? GW_OUTCOME_STORED
								    : GW_OUTCOME_DUPLICATE;
			return GW_STORE_OK;
		}
		if (rc == GW_STORE_OK && perr.reason == NULL)
			tm_error_set(&perr, "report.conflict", "report %s conflicts with stored report %s",
				     it->report_id, info.existing_id);
		if (rc != GW_STORE_OK && tm_reason_is_transient(perr.reason)) {
			*err = perr;
			return rc == GW_STORE_OK ? GW_STORE_RETRY : rc;
		}
		it->err = perr; /* a conflict, or a permanent refusal of this record */
	}
	if (tm_reason_is_transient(it->err.reason))
		return defer_item(st, it, err);
	return quarantine_item(st, q, it, now, err);
}

/* One item in a savepoint of its own. OK: its outcome is in the batch, or
 * it failed alone and left nothing (undone, err says why). Anything else:
 * the batch cannot go on (err). */
static int commit_item(const struct gw_pipeline *p, struct gw_store *st, struct gw_quarantine *q,
		       struct gw_item *it, int64_t now, struct tm_error *err)
{
	struct tm_error ierr = {0};
	it->undone = false;
	gw_item_ensure_sha256(it); /* an item that skipped stage 1 is logged by it too */
	int rc = gw_store_item_begin(st, err);
	if (rc != GW_STORE_OK)
		return rc;
	rc = commit_one(p, st, q, it, now, &ierr);
	/* the end answers for writes a server was sent ahead (store_pg_pipe.c):
	 * a failure there is this item's too */
	if (rc == GW_STORE_OK && (rc = gw_store_item_end(st, true, &ierr)) == GW_STORE_OK)
		return GW_STORE_OK;
	int urc = gw_store_item_end(st, false, err);
	if (urc != GW_STORE_OK)
		return urc;
	if (rc == GW_STORE_RETRY) { /* the store, not this item: the batch is retried */
		*err = ierr;
		return rc;
	}
	/* this item alone: kept aside with that failure's reason, once */
	it->err = ierr;
	if ((rc = gw_store_item_begin(st, err)) != GW_STORE_OK)
		return rc;
	tm_error_clear(&ierr);
	rc = quarantine_item(st, q, it, now, &ierr);
	if (rc == GW_STORE_OK)
		return gw_store_item_end(st, true, err);
	if ((urc = gw_store_item_end(st, false, err)) != GW_STORE_OK)
		return urc;
	if (rc == GW_STORE_RETRY) {
		*err = ierr;
		return rc;
	}
	it->undone = true; /* deferred: tried again later */
	return GW_STORE_OK;
}

int gw_pipeline_commit(const struct gw_pipeline *p, struct gw_store *st,
		       struct gw_quarantine *q, struct gw_item **items, size_t n, int64_t now,
		       struct tm_error *err)
{
	int rc = gw_store_begin(st, err);
	if (rc != GW_STORE_OK)
		return rc;
	/* the devices of the batch, locked at once in one order (several
	 * gateways on one server) */
	const char **serials = malloc((n > 0 ? n : 1) * sizeof(*serials));
	if (serials == NULL) {
		gw_store_rollback(st);
		return tm_error_set(err, "internal.nomem", "pipeline: out of memory");
	}
	size_t ns = 0;
	for (size_t i = 0; i < n; i++)
		if (items[i]->report != NULL && items[i]->report->serial != NULL &&
		    items[i]->err.reason == NULL)
			serials[ns++] = items[i]->report->serial;
	rc = gw_store_lock_devices(st, serials, ns, err);
	free(serials);
	gw_quarantine_batch_begin(q);
	for (size_t i = 0; i < n && rc == GW_STORE_OK; i++)
		rc = commit_item(p, st, q, items[i], now, err);
	/* the quarantined messages are durable before their log rows commit */
	if (gw_quarantine_batch_end(q, rc == GW_STORE_OK, rc == GW_STORE_OK ? err : NULL) < 0)
		rc = GW_STORE_RETRY;
	if (rc == GW_STORE_OK)
		rc = gw_store_commit(st, err);
	if (rc != GW_STORE_OK) {
		gw_store_rollback(st);
		return rc;
	}
	for (size_t i = 0; i < n; i++)
		items[i]->done = !items[i]->undone;
	return GW_STORE_OK;
}

void gw_item_outcome_text(const struct gw_item *it, char *buf, size_t n)
{
	const char *name = it->done ? gw_outcome_name(it->outcome) : "deferred";
	if (it->done && (it->outcome == GW_OUTCOME_STORED || it->outcome == GW_OUTCOME_DUPLICATE))
		snprintf(buf, n, "%s", name);
	else
		snprintf(buf, n, "%s:%s", name, it->err.reason ? it->err.reason : "store.unavailable");
}
