/* telemail-agent — the durable outbox (see outbox.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <telemail/array.h>
#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/path.h>

#include "fsutil.h"
#include "outbox.h"

struct ag_outbox {
	char *dir, *qdir, *fdir, *tdir, *spath;
	size_t max_count;
	uint64_t max_bytes;
	uint64_t next_no;
	struct ag_outbox_status st;   /* persisted counters (depth/bytes computed) */
};

static int status_load(struct ag_outbox *ob, struct tm_error *err)
{
	struct tm_buf b;
	tm_buf_init(&b);
	FILE *f = fopen(ob->spath, "rb");
	if (f == NULL)
		return errno == ENOENT ? 0 : tm_error_set(err, "io.open", "%s: %s", ob->spath, strerror(errno));
	fclose(f);
	int rc = -1;
	if (tm_buf_read_file(&b, ob->spath, 16384, err) != 0)
		goto out;
	char *save = NULL;
	for (char *l = strtok_r((char *)b.data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *v = strchr(l, ' ');
		if (v == NULL)
			continue;
		*v++ = '\0';
		unsigned long long u = strtoull(v, NULL, 10);
		if (strcmp(l, "sent") == 0) ob->st.sent = u;
		else if (strcmp(l, "rejected") == 0) ob->st.rejected = u;
		else if (strcmp(l, "dropped") == 0) ob->st.dropped = u;
		else if (strcmp(l, "gap") == 0) ob->st.gap = u;
		else if (strcmp(l, "next") == 0) ob->next_no = u;
		else if (strcmp(l, "last_success") == 0) ob->st.last_success = (int64_t)u;
		else if (strcmp(l, "last_error_at") == 0) ob->st.last_error_at = (int64_t)u;
		else if (strcmp(l, "last_rejected_at") == 0) ob->st.last_rejected_at = (int64_t)u;
		else if (strcmp(l, "last_error") == 0)
			snprintf(ob->st.last_error, sizeof(ob->st.last_error), "%s", v);
		else if (strcmp(l, "last_rejected") == 0)
			snprintf(ob->st.last_rejected, sizeof(ob->st.last_rejected), "%s", v);
	}
	rc = 0;
out:
	tm_buf_fini(&b);
	return rc;
}

static int status_save(struct ag_outbox *ob, struct tm_error *err)
{
	char buf[1536];
	int n = snprintf(buf, sizeof(buf),
			 "sent %" PRIu64 "\nrejected %" PRIu64 "\ndropped %" PRIu64 "\ngap %" PRIu64
			 "\nnext %" PRIu64 "\nlast_success %" PRId64 "\nlast_error_at %" PRId64
			 "\nlast_error %s\nlast_rejected_at %" PRId64 "\nlast_rejected %s\n",
			 ob->st.sent, ob->st.rejected, ob->st.dropped, ob->st.gap, ob->next_no,
			 ob->st.last_success, ob->st.last_error_at, ob->st.last_error,
			 ob->st.last_rejected_at, ob->st.last_rejected);
	/* counters only: a crash may cost the last update, never a torn file; what
	 * must survive (the items, their order) lives in queue/ and is synced there */
	return ag_fs_replace(ob->spath, buf, (size_t)n, false, err);
}

static bool parse_name(const char *name, struct ag_outbox_item *it)
{
	/* 16 hex digits, '-', kind, ".eml" */
	if (strlen(name) != 22 || name[16] != '-' || strcmp(name + 18, ".eml") != 0)
		return false;
	char k = name[17];
	if (k != 'e' && k != 'p' && k != 's' && k != 't')
		return false;
	uint64_t no = 0;
	for (int i = 0; i < 16; i++) {
		char c = name[i];
		int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
		if (d < 0)
			return false;
		no = no << 4 | (uint64_t)d;
	}
	memcpy(it->name, name, 23);
	it->no = no;
	it->kind = k;
	return true;
}

static int cmp_item(const void *a, const void *b)
{
	const struct ag_outbox_item *x = a, *y = b;
	return x->no < y->no ? -1 : x->no > y->no;
}

static int list_dir(const char *dir, struct ag_outbox_item **items, size_t *n,
		    struct tm_error *err)
{
	*items = NULL;
	*n = 0;
	DIR *d = opendir(dir);
	if (d == NULL)
		return tm_error_set(err, "io.open", "%s: %s", dir, strerror(errno));
	size_t cap = 0, cnt = 0;
	struct ag_outbox_item *v = NULL;
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d)) != NULL) {
		struct ag_outbox_item it;
		if (!parse_name(e->d_name, &it))
			continue;
		struct stat sb;
		if (fstatat(dirfd(d), e->d_name, &sb, 0) != 0)
			continue;
		it.size = (uint64_t)sb.st_size;
		struct ag_outbox_item *nv = tm_array_grow(v, &cap, cnt, sizeof(*v), 64, SIZE_MAX);
		if (nv == NULL) {
			rc = tm_error_set(err, "internal.nomem", "out of memory");
			break;
		}
		v = nv;
		v[cnt++] = it;
	}
	closedir(d);
	if (rc != 0) {
		free(v);
		return rc;
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_item);
	*items = v;
	*n = cnt;
	return 0;
}

int ag_outbox_list(struct ag_outbox *ob, struct ag_outbox_item **items, size_t *n,
		   struct tm_error *err)
{
	return list_dir(ob->qdir, items, n, err);
}

int ag_outbox_list_failed(struct ag_outbox *ob, struct ag_outbox_item **items, size_t *n,
			  struct tm_error *err)
{
	return list_dir(ob->fdir, items, n, err);
}

int ag_outbox_open(const char *dir, size_t max_count, uint64_t max_bytes,
		   struct ag_outbox **out, struct tm_error *err)
{
	struct ag_outbox *ob = calloc(1, sizeof(*ob));
	struct ag_outbox_item *items = NULL;
	size_t n = 0;
	*out = NULL;
	if (ob == NULL)
		return tm_error_set(err, "internal.nomem", "out of memory");
	ob->max_count = max_count;
	ob->max_bytes = max_bytes;
	ob->dir = strdup(dir);
	ob->qdir = tm_path_join(dir, "queue");
	ob->fdir = tm_path_join(dir, "failed");
	ob->tdir = tm_path_join(dir, "tmp");
	ob->spath = tm_path_join(dir, "status");
	if (!ob->dir || !ob->qdir || !ob->fdir || !ob->tdir || !ob->spath) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto fail;
	}
	if (ag_fs_mkdirs(ob->qdir, err) != 0 || ag_fs_mkdirs(ob->fdir, err) != 0 ||
	    ag_fs_mkdirs(ob->tdir, err) != 0 || status_load(ob, err) != 0 ||
	    ag_outbox_list(ob, &items, &n, err) != 0)
		goto fail;
	if (n > 0 && items[n - 1].no >= ob->next_no)
		ob->next_no = items[n - 1].no + 1;
	free(items);
	*out = ob;
	return 0;
fail:
	ag_outbox_close(ob);
	return -1;
}

void ag_outbox_close(struct ag_outbox *ob)
{
	if (ob == NULL)
		return;
	free(ob->dir);
	free(ob->qdir);
	free(ob->fdir);
	free(ob->tdir);
	free(ob->spath);
	free(ob);
}

static int unlink_item(struct ag_outbox *ob, const char *name, struct tm_error *err)
{
	char *p = tm_path_join(ob->qdir, name);
	if (p == NULL)
		return tm_error_set(err, "internal.nomem", "out of memory");
	int rc = 0;
	if (unlink(p) != 0 && errno != ENOENT)
		rc = tm_error_set(err, "io.write", "%s: unlink: %s", p, strerror(errno));
	free(p);
	if (rc == 0)
		rc = ag_fs_fsync_dir(ob->qdir, err);
	return rc;
}

/* Make room for one more item of `len` bytes; returns 1 when the new item
 * itself must give way, 0 when it fits, -1 on error / outbox.full. */
static int make_room(struct ag_outbox *ob, enum ag_item_kind kind, size_t len, size_t *dropped,
		     struct tm_error *err)
{
	struct ag_outbox_item *items = NULL;
	size_t n = 0;
	if (ag_outbox_list(ob, &items, &n, err) != 0)
		return -1;
	uint64_t bytes = 0;
	for (size_t i = 0; i < n; i++)
		bytes += items[i].size;
	size_t count = n;
	int rc = 0;
	for (size_t i = 0; i < n && (count + 1 > ob->max_count || bytes + len > ob->max_bytes); i++) {
		if (items[i].kind == AG_ITEM_EVENT)
			continue;
		if (unlink_item(ob, items[i].name, err) != 0) {
			rc = -1;
			goto out;
		}
		count--;
		bytes -= items[i].size;
		(*dropped)++;
	}
	if (count + 1 > ob->max_count || bytes + len > ob->max_bytes) {
		if (kind == AG_ITEM_EVENT) {
			rc = tm_error_set(err, "outbox.full",
					  "%s: %zu items, %" PRIu64 " bytes, all events: cannot queue this event",
					  ob->qdir, count, bytes);
			goto out;
		}
		(*dropped)++;
		rc = 1;
	}
out:
	free(items);
	return rc;
}

int ag_outbox_push(struct ag_outbox *ob, enum ag_item_kind kind, const uint8_t *msg,
		   size_t len, size_t *dropped, struct tm_error *err)
{
	size_t drop = 0;
	char *tpath = NULL, *qpath = NULL;
	int rc = -1;
	if (len > AG_OUTBOX_MAX_ITEM || len > ob->max_bytes) {
		tm_error_set(err, "io.too_large", "message of %zu bytes exceeds the outbox item limit", len);
		goto out;
	}
	int room = make_room(ob, kind, len, &drop, err);
	if (room < 0)
		goto out;
	if (room == 0) {
		char name[32];
		snprintf(name, sizeof(name), "%016" PRIx64 "-%c.eml", ob->next_no, (char)kind);
		tpath = tm_path_join(ob->tdir, name);
		qpath = tm_path_join(ob->qdir, name);
		if (tpath == NULL || qpath == NULL) {
			tm_error_set(err, "internal.nomem", "out of memory");
			goto out;
		}
		/* written and synced in tmp/, then renamed into queue/ and queue/ synced */
		if (ag_fs_write_synced(tpath, msg, len, err) != 0)
			goto out;
		if (rename(tpath, qpath) != 0) {
			tm_error_set(err, "io.write", "%s: rename: %s", qpath, strerror(errno));
			unlink(tpath);
			goto out;
		}
		if (ag_fs_fsync_dir(ob->qdir, err) != 0)
			goto out;
		ob->next_no++;
	}
	/* the status only changes when items gave way (the next number is
	 * recovered from queue/ at open) */
	if (drop > 0) {
		ob->st.dropped += drop;
		ob->st.gap += drop;
		if (status_save(ob, err) != 0)
			goto out;
	}
	rc = 0;
out:
	if (dropped)
		*dropped = drop;
	free(tpath);
	free(qpath);
	return rc;
}

int ag_outbox_read(struct ag_outbox *ob, const struct ag_outbox_item *it, struct tm_buf *out,
		   struct tm_error *err)
{
	char *p = tm_path_join(ob->qdir, it->name);
	if (p == NULL)
		return tm_error_set(err, "internal.nomem", "out of memory");
	int rc = tm_buf_read_file(out, p, AG_OUTBOX_MAX_ITEM, err);
	if (rc != 0)
		tm_error_set(err, "outbox.corrupt", "cannot read a queued item: %s", err->msg);
	free(p);
	return rc;
}

int ag_outbox_done(struct ag_outbox *ob, const struct ag_outbox_item *it, struct tm_error *err)
{
	if (unlink_item(ob, it->name, err) != 0)
		return -1;
	ob->st.sent++;
	ob->st.last_success = (int64_t)time(NULL);
	return status_save(ob, err);
}

int ag_outbox_reject(struct ag_outbox *ob, const struct ag_outbox_item *it, const char *reply,
		     struct tm_error *err)
{
	char rname[40];
	snprintf(rname, sizeof(rname), "%s.reply", it->name);
	char *rp = tm_path_join(ob->fdir, rname);
	char *from = tm_path_join(ob->qdir, it->name);
	char *to = tm_path_join(ob->fdir, it->name);
	int rc = -1;
	if (rp == NULL || from == NULL || to == NULL) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	if (ag_fs_write_atomic(rp, reply, strlen(reply), err) != 0)
		goto out;
	if (rename(from, to) != 0) {
		tm_error_set(err, "io.write", "%s: rename: %s", to, strerror(errno));
		goto out;
	}
	if (ag_fs_fsync_dir(ob->fdir, err) != 0 || ag_fs_fsync_dir(ob->qdir, err) != 0)
		goto out;
	ob->st.rejected++;
	/* a record of its own: a later transient error must not hide a rejection */
	ob->st.last_rejected_at = ob->st.last_error_at = (int64_t)time(NULL);
	snprintf(ob->st.last_rejected, sizeof(ob->st.last_rejected), "%.22s: %.200s", it->name, reply);
	for (char *c = ob->st.last_rejected; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	snprintf(ob->st.last_error, sizeof(ob->st.last_error), "rejected %.230s", ob->st.last_rejected);
	rc = status_save(ob, err);
out:
	free(rp);
	free(from);
	free(to);
	return rc;
}

int ag_outbox_note_error(struct ag_outbox *ob, const char *msg, struct tm_error *err)
{
	ob->st.last_error_at = (int64_t)time(NULL);
	snprintf(ob->st.last_error, sizeof(ob->st.last_error), "%s", msg);
	for (char *c = ob->st.last_error; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	return status_save(ob, err);
}

int ag_outbox_status(struct ag_outbox *ob, struct ag_outbox_status *st, struct tm_error *err)
{
	struct ag_outbox_item *items = NULL;
	size_t n = 0;
	if (ag_outbox_list(ob, &items, &n, err) != 0)
		return -1;
	*st = ob->st;
	st->depth = n;
	st->bytes = 0;
	for (size_t i = 0; i < n; i++)
		st->bytes += items[i].size;
	free(items);
	if (ag_outbox_list_failed(ob, &items, &n, err) != 0)
		return -1;
	st->failed = n;
	free(items);
	return 0;
}

/* "0000000000000003-p" or "0000000000000003-p.eml": the file name, checked. */
static bool id_name(const char *id, char name[32])
{
	struct ag_outbox_item it;
	char n[32];
	size_t len = strlen(id);
	if (len == 18)
		snprintf(n, sizeof(n), "%s.eml", id);
	else if (len == 22)
		snprintf(n, sizeof(n), "%s", id);
	else
		return false;
	if (!parse_name(n, &it))
		return false;
	memcpy(name, n, 23);
	return true;
}

static int not_found(const char *id, const char *where, struct tm_error *err)
{
	return tm_error_set(err, "outbox.not_found", "%.40s: no such report in %s (see outbox list%s)",
			    id, where, strcmp(where, "outbox/failed") == 0 ? " --failed" : "");
}

int ag_outbox_reply(struct ag_outbox *ob, const struct ag_outbox_item *it, char *out, size_t len)
{
	char rname[40];
	snprintf(rname, sizeof(rname), "%s.reply", it->name);
	char *rp = tm_path_join(ob->fdir, rname);
	out[0] = '\0';
	FILE *f = rp ? fopen(rp, "r") : NULL;
	free(rp);
	if (f == NULL)
		return -1;
	size_t n = fread(out, 1, len - 1, f);
	fclose(f);
	out[n] = '\0';
	for (char *c = out; *c; c++)
		if ((unsigned char)*c < 0x20)
			*c = ' ';
	return 0;
}

int ag_outbox_retry(struct ag_outbox *ob, const char *id, struct tm_error *err)
{
	char name[32], rname[40];
	if (!id_name(id, name))
		return not_found(id, "outbox/failed", err);
	snprintf(rname, sizeof(rname), "%s.reply", name);
	char *from = tm_path_join(ob->fdir, name), *to = tm_path_join(ob->qdir, name);
	char *rp = tm_path_join(ob->fdir, rname);
	int rc = -1;
	if (from == NULL || to == NULL || rp == NULL) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	/* back into queue/ under its own number: sent in its place, oldest first */
	if (rename(from, to) != 0) {
		if (errno == ENOENT)
			not_found(id, "outbox/failed", err);
		else
			tm_error_set(err, "io.write", "%s: rename: %s", to, strerror(errno));
		goto out;
	}
	if (ag_fs_fsync_dir(ob->qdir, err) != 0)
		goto out;
	if (unlink(rp) != 0 && errno != ENOENT) {
		tm_error_set(err, "io.write", "%s: unlink: %s", rp, strerror(errno));
		goto out;
	}
	rc = ag_fs_fsync_dir(ob->fdir, err);
out:
	free(from);
	free(to);
	free(rp);
	return rc;
}

int ag_outbox_drop(struct ag_outbox *ob, const char *id, struct tm_error *err)
{
	char name[32], rname[40];
	if (!id_name(id, name))
		return not_found(id, "the outbox", err);
	snprintf(rname, sizeof(rname), "%s.reply", name);
	const char *dirs[2] = { ob->qdir, ob->fdir };
	for (int i = 0; i < 2; i++) {
		char *p = tm_path_join(dirs[i], name);
		if (p == NULL)
			return tm_error_set(err, "internal.nomem", "out of memory");
		int r = unlink(p);
		int e = errno;
		free(p);
		if (r != 0 && e != ENOENT)
			return tm_error_set(err, "io.write", "%s/%s: unlink: %s", dirs[i], name, strerror(e));
		if (r != 0)
			continue;
		if (i == 1) {
			char *rp = tm_path_join(ob->fdir, rname);
			if (rp != NULL)
				unlink(rp);
			free(rp);
		}
		return ag_fs_fsync_dir(dirs[i], err);
	}
	return not_found(id, "the outbox", err);
}

uint64_t ag_outbox_next_no(struct ag_outbox *ob)
{
	return ob->next_no;
}

uint64_t ag_outbox_gap(struct ag_outbox *ob)
{
	return ob->st.gap;
}

int ag_outbox_gap_consume(struct ag_outbox *ob, uint64_t n, struct tm_error *err)
{
	if (n == 0)
		return 0;
	ob->st.gap = n > ob->st.gap ? 0 : ob->st.gap - n;
	return status_save(ob, err);
}

int64_t ag_backoff_delay(unsigned attempt, int64_t base, int64_t cap, uint32_t rnd)
{
	int64_t ceil = base;
	for (unsigned i = 0; i < attempt && ceil < cap; i++)
		ceil *= 2;
	if (ceil > cap)
		ceil = cap;
	return (int64_t)((uint64_t)rnd % (uint64_t)(ceil + 1));
}
