/* telemail-agent — the last collection cycle's status (see cycle_status.h).
 *
 * <state_dir>/collector.status, one line per record, fields separated by a
 * tab (tabs, line ends and other control bytes in a value become '?'):
 *   at      UNIX-SECONDS
 *   ok      ADDRESS  SERIAL|-
 *   failed  ADDRESS  SERIAL|-  REASON  SINCE-UNIX-SECONDS  DETAIL */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/path.h>
#include <telemail/report.h>
#include <telemail/time.h>

#include "config.h"
#include "cycle_status.h"
#include "fsutil.h"

#define LINE_MAX_LEN 1024

void ag_cycle_status_init(struct ag_cycle_status *cs)
{
	memset(cs, 0, sizeof(*cs));
}

void ag_cycle_status_fini(struct ag_cycle_status *cs)
{
	free(cs->d);
	ag_cycle_status_init(cs);
}

/* Copy src into dst (cap bytes with the NUL), printable ASCII only: any
 * other byte becomes '?' (the detail is our own message, maybe with a
 * device's text in it; the report and the file want one clean line). */
static void clean_copy(char *dst, size_t cap, const char *src)
{
	size_t i = 0;
	for (; src != NULL && src[i] != '\0' && i + 1 < cap; i++) {
		unsigned char ch = (unsigned char)src[i];
		dst[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	dst[i] = '\0';
}

static struct ag_cycle_device *grow(struct ag_cycle_status *cs)
{
	struct ag_cycle_device *d = realloc(cs->d, (cs->n + 1) * sizeof(*d));
	if (d == NULL)
		return NULL;
	cs->d = d;
	memset(&d[cs->n], 0, sizeof(*d));
	return &d[cs->n++];
}

/* Split line at tabs into at most max fields (in place). */
static size_t split(char *line, char **f, size_t max)
{
	size_t n = 0;
	char *p = line;
	while (n < max) {
		f[n++] = p;
		char *t = strchr(p, '\t');
		if (t == NULL)
			break;
		*t = '\0';
		p = t + 1;
	}
	return n;
}

int ag_cycle_status_load(const char *state_dir, struct ag_cycle_status *cs, struct tm_error *err)
{
	ag_cycle_status_init(cs);
	char *path = tm_path_join(state_dir, AG_CYCLE_STATUS_FILE);
	if (path == NULL)
		return tm_error_set(err, "internal.nomem", "out of memory");
	FILE *f = fopen(path, "r");
	int rc = -1;
	if (f == NULL) {
		rc = errno == ENOENT ? 0 : tm_error_set(err, "state.io", "%s: %s", path, strerror(errno));
		free(path);
		return rc;
	}
	char line[LINE_MAX_LEN];
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		char *fl[6];
		size_t n = split(line, fl, 6);
		if (n == 2 && strcmp(fl[0], "at") == 0) {
			cs->at = strtoll(fl[1], NULL, 10);
			continue;
		}
		bool failed = n == 6 && strcmp(fl[0], "failed") == 0;
		if (!failed && !(n == 3 && strcmp(fl[0], "ok") == 0))
			continue;   /* not ours: ignored, the next cycle rewrites the file */
		struct ag_cycle_device *d = grow(cs);
		if (d == NULL) {
			tm_error_set(err, "internal.nomem", "out of memory");
			goto out;
		}
		clean_copy(d->address, sizeof(d->address), fl[1]);
		clean_copy(d->serial, sizeof(d->serial), strcmp(fl[2], "-") == 0 ? "" : fl[2]);
		d->failed = failed;
		if (failed) {
			clean_copy(d->reason, sizeof(d->reason), fl[3]);
			d->since = strtoll(fl[4], NULL, 10);
			clean_copy(d->detail, sizeof(d->detail), fl[5]);
		}
	}
	rc = 0;
out:
	fclose(f);
	free(path);
	if (rc != 0)
		ag_cycle_status_fini(cs);
	return rc;
}

int ag_cycle_status_save(const char *state_dir, const struct ag_cycle_status *cs, struct tm_error *err)
{
	struct tm_buf b;
	tm_buf_init(&b);
	int rc = -1;
	char *path = NULL;
	if (ag_fs_mkdirs(state_dir, err) != 0)
		goto out;
	path = tm_path_join(state_dir, AG_CYCLE_STATUS_FILE);
	if (path == NULL) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	int bad = tm_buf_printf(&b, "at\t%" PRId64 "\n", cs->at) < 0;
	for (size_t i = 0; i < cs->n; i++) {
		const struct ag_cycle_device *d = &cs->d[i];
		const char *serial = d->serial[0] ? d->serial : "-";
		if (d->failed)
			bad |= tm_buf_printf(&b, "failed\t%s\t%s\t%s\t%" PRId64 "\t%s\n", d->address, serial,
					     d->reason, d->since, d->detail) < 0;
		else
			bad |= tm_buf_printf(&b, "ok\t%s\t%s\n", d->address, serial) < 0;
	}
	if (bad) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	rc = ag_fs_replace(path, b.data, b.len, false, err);
out:
	free(path);
	tm_buf_fini(&b);
	return rc;
}

static const struct ag_cycle_device *find(const struct ag_cycle_status *cs, const char *address)
{
	for (size_t i = 0; cs != NULL && i < cs->n; i++)
		if (strcmp(cs->d[i].address, address) == 0)
			return &cs->d[i];
	return NULL;
}

int ag_cycle_status_note(struct ag_cycle_status *cs, const struct ag_config *cfg, size_t i,
			 const char *serial, const struct tm_error *err,
			 const struct ag_cycle_status *prev, int64_t now)
{
	const struct ag_collector_config *k = &cfg->collectors[i];
	struct ag_cycle_device *d = grow(cs);
	if (d == NULL)
		return -1;
	char address[AG_SOURCE_MAX];
	if (k->type == AG_COLLECT_SNMP)
		snprintf(address, sizeof(address), "%s:%d", k->host, k->port);
	else
		snprintf(address, sizeof(address), "%s", k->path);
	clean_copy(d->address, sizeof(d->address), address);
	const struct ag_cycle_device *old = find(prev, d->address);
	/* the serial: the device's own, else the configured one, else the one seen before */
	const char *s = serial != NULL ? serial : k->serial != NULL ? k->serial : old ? old->serial : "";
	clean_copy(d->serial, sizeof(d->serial), s);
	if (err != NULL)
		ag_cycle_status_fail(cs, cs->n - 1, err, prev, now);
	return 0;
}

void ag_cycle_status_fail(struct ag_cycle_status *cs, size_t i, const struct tm_error *err,
			  const struct ag_cycle_status *prev, int64_t now)
{
	struct ag_cycle_device *d = &cs->d[i];
	const struct ag_cycle_device *old = find(prev, d->address);
	d->failed = true;
	clean_copy(d->reason, sizeof(d->reason), err->reason ? err->reason : "collect.unavailable");
	clean_copy(d->detail, sizeof(d->detail), err->msg);
	d->since = old != NULL && old->failed && old->since > 0 ? old->since : now;
}

size_t ag_cycle_status_failed(const struct ag_cycle_status *cs)
{
	size_t n = 0;
	for (size_t i = 0; i < cs->n; i++)
		n += cs->d[i].failed;
	return n;
}

static int by_address(const void *a, const void *b)
{
	const struct ag_cycle_device *const *x = a, *const *y = b;
	return strcmp((*x)->address, (*y)->address);
}

/* The schema's serial pattern: [A-Za-z0-9._-]{1,64}. */
static bool serial_ok(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n <= 64 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

static char *utc(int64_t t)
{
	char b[32];
	tm_time_format(t, b, sizeof(b));
	return strdup(b);
}

void ag_cycle_status_detach(struct tm_report *r)
{
	for (size_t i = 0; i < r->n_unreachable; i++) {
		struct tm_unreachable *u = &r->unreachable[i];
		free(u->address);
		free(u->serial);
		free(u->reason);
		free(u->since);
		free(u->detail);
	}
	free(r->unreachable);
	r->unreachable = NULL;
	r->n_unreachable = 0;
	r->has_collector = false;
	r->collector_devices = TM_UNSET;
	r->unreachable_count = TM_UNSET;
}

int ag_cycle_status_attach(const struct ag_cycle_status *cs, struct tm_report *r, struct tm_error *err)
{
	ag_cycle_status_detach(r);
	size_t nf = ag_cycle_status_failed(cs);
	const struct ag_cycle_device **f = calloc(nf ? nf : 1, sizeof(*f));
	if (f == NULL)
		return tm_error_set(err, "internal.nomem", "out of memory");
	size_t k = 0;
	for (size_t i = 0; i < cs->n; i++)
		if (cs->d[i].failed)
			f[k++] = &cs->d[i];
	qsort(f, nf, sizeof(*f), by_address);
	size_t n = nf < TM_UNREACHABLE_MAX ? nf : TM_UNREACHABLE_MAX;
	r->has_collector = true;
	r->collector_devices = (int64_t)cs->n;
	r->unreachable_count = (int64_t)nf;
	r->unreachable = calloc(n ? n : 1, sizeof(*r->unreachable));
	if (r->unreachable == NULL)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		struct tm_unreachable *u = &r->unreachable[i];
		r->n_unreachable = i + 1;
		u->address = strdup(f[i]->address);
		u->reason = strdup(f[i]->reason);
		u->since = utc(f[i]->since);
		u->serial = serial_ok(f[i]->serial) ? strdup(f[i]->serial) : NULL;
		u->detail = f[i]->detail[0] ? strdup(f[i]->detail) : NULL;
		if (u->address == NULL || u->reason == NULL || u->since == NULL ||
		    (serial_ok(f[i]->serial) && u->serial == NULL) || (f[i]->detail[0] && u->detail == NULL))
			goto nomem;
	}
	free(f);
	return 0;
nomem:
	free(f);
	ag_cycle_status_detach(r);
	return tm_error_set(err, "internal.nomem", "out of memory");
}
