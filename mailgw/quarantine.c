/* telemail-mailgw — the quarantine area (see quarantine.h for the layout). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include <telemail/buf.h>
#include <telemail/error.h>

#include "quarantine.h"

/* A file written in a batch, waiting for gw_quarantine_batch_end. */
struct pending {
	char *tmp;                      /* full path of the temporary file */
	char name[GW_SHA256_HEX + 8];   /* its final name in the directory */
};

struct gw_quarantine {
	char *dir;
	int dirfd;
	bool batched;
	struct pending *pend;
	size_t n_pend, cap_pend;
};

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int gw_quarantine_open(const char *dir, struct gw_quarantine **out, struct tm_error *err)
{
	*out = NULL;
	if (dir == NULL || dir[0] == '\0')
		return tm_error_set(err, "config.bad_value", "quarantine_dir: empty");
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return tm_error_set(err, "io.open", "%s: mkdir: %s", dir, strerror(errno));
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return tm_error_set(err, "io.open", "%s: %s", dir, strerror(errno));
	struct gw_quarantine *q = calloc(1, sizeof(*q));
	char *d = strdup(dir);
	if (q == NULL || d == NULL) {
		free(q);
		free(d);
		close(fd);
		return tm_error_set(err, "internal.nomem", "quarantine: out of memory");
	}
	q->dir = d;
	q->dirfd = fd;
	*out = q;
	return 0;
}

void gw_quarantine_close(struct gw_quarantine *q)
{
	if (q == NULL)
		return;
	gw_quarantine_batch_end(q, false, NULL);
	free(q->pend);
	close(q->dirfd);
	free(q->dir);
	free(q);
}

void gw_quarantine_batch_begin(struct gw_quarantine *q)
{
	if (q != NULL)
		q->batched = true;
}

static void drop_pending(struct gw_quarantine *q, size_t from)
{
	for (size_t i = from; i < q->n_pend; i++) {
		unlink(q->pend[i].tmp);
		free(q->pend[i].tmp);
	}
	for (size_t i = 0; i < from && i < q->n_pend; i++)
		free(q->pend[i].tmp);
	q->n_pend = 0;
}

int gw_quarantine_batch_end(struct gw_quarantine *q, bool keep, struct tm_error *err)
{
	if (q == NULL)
		return 0;
	q->batched = false;
	if (!keep || q->n_pend == 0) {
		drop_pending(q, 0);
		return 0;
	}
	/* one flush for the data of every file, then the renames (each .eml
	 * before its .json), then one flush of the directory */
	if (syncfs(q->dirfd) < 0) {
		int e = errno;
		drop_pending(q, 0);
		return tm_error_set(err, "io.write", "%s: syncfs: %s", q->dir, strerror(e));
	}
	for (size_t i = 0; i < q->n_pend; i++) {
		if (renameat(AT_FDCWD, q->pend[i].tmp, q->dirfd, q->pend[i].name) < 0) {
			int e = errno;
			drop_pending(q, i);
			return tm_error_set(err, "io.write", "%s/%s: rename: %s", q->dir,
					    q->pend[i].name, strerror(e));
		}
	}
	drop_pending(q, q->n_pend);
	if (fsync(q->dirfd) < 0)
		return tm_error_set(err, "io.write", "%s: fsync: %s", q->dir, strerror(errno));
	return 0;
}

/* Write `name` in the directory atomically: temp file, fsync, rename, fsync dir.
 * In a batch: the temp file only; gw_quarantine_batch_end does the rest. */
static int write_atomic(struct gw_quarantine *q, const char *name, const void *data, size_t len,
			struct tm_error *err)
{
	size_t plen = strlen(q->dir) + strlen(name) + 16;
	char *tmp = malloc(plen);
	if (tmp == NULL)
		return tm_error_set(err, "internal.nomem", "quarantine: out of memory");
	snprintf(tmp, plen, "%s/.tmp-%s-XXXXXX", q->dir, name);
	int rc = -1;
	bool created = false;
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		tm_error_set(err, "io.write", "%s: %s", tmp, strerror(errno));
		goto out;
	}
	created = true;
	const uint8_t *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			tm_error_set(err, "io.write", "%s: %s", tmp, n < 0 ? strerror(errno) : "short write");
			goto out;
		}
		p += n;
		left -= (size_t)n;
	}
	if (!q->batched && fsync(fd) < 0) {
		tm_error_set(err, "io.write", "%s: fsync: %s", tmp, strerror(errno));
		goto out;
	}
	int crc = close(fd);
	fd = -1;
	if (crc < 0) {
		tm_error_set(err, "io.write", "%s: close: %s", tmp, strerror(errno));
		goto out;
	}
	if (q->batched) {
		if (q->n_pend == q->cap_pend) {
			size_t cap = q->cap_pend ? 2 * q->cap_pend : 32;
			struct pending *np = realloc(q->pend, cap * sizeof(*np));
			if (np == NULL) {
				tm_error_set(err, "internal.nomem", "quarantine: out of memory");
				goto out;
			}
			q->pend = np;
			q->cap_pend = cap;
		}
		q->pend[q->n_pend].tmp = tmp;
		snprintf(q->pend[q->n_pend].name, sizeof(q->pend[q->n_pend].name), "%s", name);
		q->n_pend++;
		return 0; /* tmp is the batch's now */
	}
	if (renameat(AT_FDCWD, tmp, q->dirfd, name) < 0) {
		tm_error_set(err, "io.write", "%s/%s: rename: %s", q->dir, name, strerror(errno));
		goto out;
	}
	created = false;
	if (fsync(q->dirfd) < 0) {
		tm_error_set(err, "io.write", "%s: fsync: %s", q->dir, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (created)
		unlink(tmp);
	free(tmp);
	return rc;
}

/* Metadata fields may quote bad input: keep printable ASCII, '?' for the rest. */
static void clean(const char *in, char *out, size_t cap)
{
	size_t n = 0;
	for (const char *p = in; p != NULL && *p != '\0' && n + 1 < cap; p++)
		out[n++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
	out[n] = '\0';
}

static int read_small(struct gw_quarantine *q, const char *name, size_t max, struct tm_buf *b,
		      struct tm_error *err)
{
	size_t n = strlen(q->dir) + strlen(name) + 2;
	char *path = malloc(n);
	if (path == NULL)
		return tm_error_set(err, "internal.nomem", "quarantine: out of memory");
	snprintf(path, n, "%s/%s", q->dir, name);
	int rc = tm_buf_read_file(b, path, max, err);
	free(path);
	return rc;
}

static void copy_str(json_t *o, const char *key, char *out, size_t cap)
{
	const char *s = json_string_value(json_object_get(o, key));
	snprintf(out, cap, "%s", s != NULL ? s : "");
}

static int64_t get_int(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static int read_meta(struct gw_quarantine *q, const char *id, struct gw_quarantine_meta *m,
		     struct tm_error *err)
{
	char name[GW_SHA256_HEX + 8];
	struct tm_buf b;
	tm_buf_init(&b);
	snprintf(name, sizeof(name), "%s.json", id);
	int rc = read_small(q, name, GW_QUARANTINE_MAX_META, &b, err);
	if (rc < 0)
		goto out;
	json_error_t jerr;
	json_t *o = json_loadb((const char *)b.data, b.len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(o)) {
		json_decref(o);
		rc = tm_error_set(err, "io.read", "%s/%s: not a quarantine record (line %d: %s)",
				  q->dir, name, jerr.line, jerr.text);
		goto out;
	}
	memset(m, 0, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "%s", id);
	copy_str(o, "reason", m->reason, sizeof(m->reason));
	copy_str(o, "detail", m->detail, sizeof(m->detail));
	copy_str(o, "message_id", m->message_id, sizeof(m->message_id));
	copy_str(o, "raw_sha256", m->raw_sha256, sizeof(m->raw_sha256));
	copy_str(o, "serial", m->serial, sizeof(m->serial));
	copy_str(o, "report_id", m->report_id, sizeof(m->report_id));
	m->size = (uint64_t)get_int(o, "size");
	m->received_at = get_int(o, "received_at");
	m->quarantined_at = get_int(o, "quarantined_at");
	json_decref(o);
out:
	tm_buf_fini(&b);
	return rc;
}

/* The entry's .eml holds exactly these octets. */
static bool same_raw(struct gw_quarantine *q, const char *id, const uint8_t *raw, size_t len)
{
	char name[GW_SHA256_HEX + 8];
	struct tm_buf b;
	struct tm_error ignore = {0};
	tm_buf_init(&b);
	snprintf(name, sizeof(name), "%s.eml", id);
	bool same = read_small(q, name, GW_QUARANTINE_MAX_RAW, &b, &ignore) == 0 && b.len == len &&
		    (len == 0 || memcmp(b.data, raw, len) == 0);
	tm_buf_fini(&b);
	return same;
}

int gw_quarantine_put(struct gw_quarantine *q, const uint8_t *raw, size_t len,
		      const struct gw_quarantine_meta *meta, int64_t now, char id_out[GW_SHA256_HEX],
		      struct tm_error *err)
{
	if (!gw_store_is_sha256_hex(meta->raw_sha256))
		return tm_error_set(err, "internal.bug", "quarantine: raw_sha256 is not 64 hex digits");
	if (tm_reason_lookup(meta->reason) == NULL)
		return tm_error_set(err, "internal.bug", "quarantine: unknown reason code '%.60s'",
				    meta->reason);
	if (len > GW_QUARANTINE_MAX_RAW)
		return tm_error_set(err, "io.too_large",
				    "quarantine: message of %zu bytes is over the %u-byte limit", len,
				    GW_QUARANTINE_MAX_RAW);
	const char *id = meta->raw_sha256;
	char name[GW_SHA256_HEX + 8];
	int rc;
	int64_t first = now;
	struct gw_quarantine_meta c;   /* printable copies */
	clean(meta->detail, c.detail, sizeof(c.detail));
	clean(meta->message_id, c.message_id, sizeof(c.message_id));
	clean(meta->serial, c.serial, sizeof(c.serial));
	clean(meta->report_id, c.report_id, sizeof(c.report_id));

	struct gw_quarantine_meta old;
	struct tm_error ignore = {0};
	if (read_meta(q, id, &old, &ignore) == 0) {
		if (old.quarantined_at != 0)
			first = old.quarantined_at;
		/* the same message (same octets: the same id) for the same reason:
		 * the entry already says all there is to say, write nothing (a sender
		 * retrying one bad message must not churn files) */
		if (strcmp(old.reason, meta->reason) == 0 && strcmp(old.detail, c.detail) == 0 &&
		    old.size == len && same_raw(q, id, raw, len))
			goto done;
	}

	snprintf(name, sizeof(name), "%s.eml", id);
	rc = write_atomic(q, name, raw, len, err);
	if (rc < 0)
		return rc;

	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}",
			      "id", id, "reason", meta->reason, "detail", c.detail,
			      "message_id", c.message_id, "raw_sha256", meta->raw_sha256,
			      "serial", c.serial, "report_id", c.report_id,
			      "size", (json_int_t)len, "received_at", (json_int_t)meta->received_at,
			      "quarantined_at", (json_int_t)first);
	char *text = o != NULL ? json_dumps(o, JSON_SORT_KEYS | JSON_INDENT(1)) : NULL;
	json_decref(o);
	if (text == NULL)
		return tm_error_set(err, "internal.library",
				    "quarantine: cannot encode the record (invalid UTF-8 in a field?)");
	snprintf(name, sizeof(name), "%s.json", id);
	rc = write_atomic(q, name, text, strlen(text), err);
	free(text);
	if (rc < 0)
		return rc;
done:
	if (id_out != NULL)
		snprintf(id_out, GW_SHA256_HEX, "%s", id);
	return 0;
}

/* Resolve a full id or unique prefix to the full id. */
static int resolve(struct gw_quarantine *q, const char *in, char id[GW_SHA256_HEX],
		   struct tm_error *err)
{
	size_t n = in != NULL ? strnlen(in, 65) : 0;
	if (n < GW_QUARANTINE_MIN_PREFIX || n > 64 || !is_hex(in, n))
		return tm_error_set(err, "quarantine.bad_id",
				    "quarantine id '%.70s': want %d to 64 lower-case hex digits",
				    in != NULL ? in : "", GW_QUARANTINE_MIN_PREFIX);
	int dfd = dup(q->dirfd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (d == NULL) {
		if (dfd >= 0)
			close(dfd);
		return tm_error_set(err, "io.read", "%s: %s", q->dir, strerror(errno));
	}
	rewinddir(d);
	int matches = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		const char *nm = de->d_name;
		if (strlen(nm) == 69 && strcmp(nm + 64, ".json") == 0 && is_hex(nm, 64) &&
		    strncmp(nm, in, n) == 0) {
			if (++matches == 1)
				snprintf(id, GW_SHA256_HEX, "%.64s", nm);
		}
	}
	closedir(d);
	if (matches == 0)
		return tm_error_set(err, "quarantine.not_found", "quarantine id '%s': no such entry in %s",
				    in, q->dir);
	if (matches > 1)
		return tm_error_set(err, "quarantine.bad_id",
				    "quarantine id '%s': ambiguous, %d entries start with it", in,
				    matches);
	return 0;
}

int gw_quarantine_get(struct gw_quarantine *q, const char *id, struct gw_quarantine_meta *meta,
		      struct tm_buf *raw, struct tm_error *err)
{
	char full[GW_SHA256_HEX];
	if (resolve(q, id, full, err) < 0 || read_meta(q, full, meta, err) < 0)
		return -1;
	if (raw == NULL)
		return 0;
	char name[GW_SHA256_HEX + 8];
	snprintf(name, sizeof(name), "%s.eml", full);
	return read_small(q, name, GW_QUARANTINE_MAX_RAW, raw, err);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The ids of all entries (sorted); free each and the array. */
static int collect(struct gw_quarantine *q, char ***out, size_t *count, struct tm_error *err)
{
	*out = NULL;
	*count = 0;
	int dfd = dup(q->dirfd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (d == NULL) {
		if (dfd >= 0)
			close(dfd);
		return tm_error_set(err, "io.read", "%s: %s", q->dir, strerror(errno));
	}
	rewinddir(d);
	char **ids = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		const char *nm = de->d_name;
		if (!(strlen(nm) == 69 && strcmp(nm + 64, ".json") == 0 && is_hex(nm, 64)))
			continue;
		if (n == GW_QUARANTINE_MAX_ENTRIES) {
			rc = tm_error_set(err, "io.too_large", "%s: more than %d entries", q->dir,
					  GW_QUARANTINE_MAX_ENTRIES);
			break;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			char **p = realloc(ids, ncap * sizeof(*p));
			if (p == NULL) {
				rc = tm_error_set(err, "internal.nomem", "quarantine: out of memory");
				break;
			}
			ids = p;
			cap = ncap;
		}
		ids[n] = strndup(nm, 64);
		if (ids[n] == NULL) {
			rc = tm_error_set(err, "internal.nomem", "quarantine: out of memory");
			break;
		}
		n++;
	}
	closedir(d);
	if (rc < 0) {
		for (size_t i = 0; i < n; i++)
			free(ids[i]);
		free(ids);
		return rc;
	}
	if (n > 0)
		qsort(ids, n, sizeof(*ids), cmp_names);
	*out = ids;
	*count = n;
	return 0;
}

int gw_quarantine_list(struct gw_quarantine *q, gw_quarantine_cb cb, void *ctx,
		       struct tm_error *err)
{
	char **ids;
	size_t n;
	int rc = collect(q, &ids, &n, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct gw_quarantine_meta m;
		struct tm_error gone = {0};
		if (read_meta(q, ids[i], &m, &gone) < 0) {
			if (gone.reason != NULL && strcmp(gone.reason, "io.open") == 0)
				continue;   /* removed meanwhile */
			*err = gone;
			rc = -1;
			break;
		}
		rc = cb(ctx, &m);
	}
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	return rc;
}

static int remove_full(struct gw_quarantine *q, const char *id, struct tm_error *err)
{
	char name[GW_SHA256_HEX + 8];
	snprintf(name, sizeof(name), "%s.json", id);
	if (unlinkat(q->dirfd, name, 0) < 0 && errno != ENOENT)
		return tm_error_set(err, "io.write", "%s/%s: %s", q->dir, name, strerror(errno));
	snprintf(name, sizeof(name), "%s.eml", id);
	if (unlinkat(q->dirfd, name, 0) < 0 && errno != ENOENT)
		return tm_error_set(err, "io.write", "%s/%s: %s", q->dir, name, strerror(errno));
	if (fsync(q->dirfd) < 0)
		return tm_error_set(err, "io.write", "%s: fsync: %s", q->dir, strerror(errno));
	return 0;
}

int gw_quarantine_remove(struct gw_quarantine *q, const char *id, struct tm_error *err)
{
	char full[GW_SHA256_HEX];
	if (resolve(q, id, full, err) < 0)
		return -1;
	return remove_full(q, full, err);
}

/* Crash leftovers: temporary files, and .eml files without their .json. */
static int purge_leftovers(struct gw_quarantine *q, int64_t cutoff, size_t *removed,
			   struct tm_error *err)
{
	int dfd = dup(q->dirfd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (d == NULL) {
		if (dfd >= 0)
			close(dfd);
		return tm_error_set(err, "io.read", "%s: %s", q->dir, strerror(errno));
	}
	rewinddir(d);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		const char *nm = de->d_name;
		bool tmp = strncmp(nm, ".tmp-", 5) == 0;
		bool eml = strlen(nm) == 68 && strcmp(nm + 64, ".eml") == 0 && is_hex(nm, 64);
		if (!tmp && !eml)
			continue;
		if (eml) {
			char js[GW_SHA256_HEX + 8];
			struct stat jst;
			snprintf(js, sizeof(js), "%.64s.json", nm);
			if (fstatat(q->dirfd, js, &jst, 0) == 0)
				continue;   /* a whole entry */
		}
		struct stat st;
		if (fstatat(q->dirfd, nm, &st, 0) == 0 && (int64_t)st.st_mtime < cutoff &&
		    unlinkat(q->dirfd, nm, 0) == 0)
			++*removed;
	}
	closedir(d);
	return 0;
}

int gw_quarantine_purge(struct gw_quarantine *q, int64_t cutoff, size_t *removed,
			struct tm_error *err)
{
	*removed = 0;
	char **ids;
	size_t n;
	int rc = collect(q, &ids, &n, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct gw_quarantine_meta m;
		struct tm_error gone = {0};
		if (read_meta(q, ids[i], &m, &gone) < 0)
			continue;   /* removed meanwhile or unreadable: left for a person */
		if (m.quarantined_at < cutoff) {
			rc = remove_full(q, ids[i], err);
			if (rc == 0)
				++*removed;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	if (rc == 0)
		rc = purge_leftovers(q, cutoff, removed, err);
	return rc;
}
