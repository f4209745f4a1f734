/* telemail-agent — per-device state file.
 *
 * Format (one item per line, "key value"):
 *   telemail-agent-state 1
 *   serial XK100001
 *   seq 42
 *   primed 1
 *   state idle
 *   supply 1 1 TN-512K  index, flags (1 low reported, 2 empty reported), the part
 *                       number last seen (optional; may hold spaces)
 *   alert jam//4
 *   condition jammed
 *   part fuser
 *   firmware controller=2.1.0
 *   counter prtMarkerLifeCount.1.1 4294967000 0    key, last raw Counter32, wraps
 *   source 192.0.2.41:161                          where the serial was read
 *   previous 192.0.2.40:161                        the source before it
 *   clash 192.0.2.40:161 192.0.2.41:161            a serial clash, held back
 *   end
 * The trailing "end" line proves the file is whole. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/path.h>

#include "fsutil.h"
#include "state.h"

void ag_state_init(struct ag_state *st)
{
	memset(st, 0, sizeof(*st));
}

static void list_free(char **l, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		free(l[i]);
	*n = 0;
}

void ag_state_fini(struct ag_state *st)
{
	list_free(st->alerts, &st->n_alerts);
	list_free(st->conditions, &st->n_conditions);
	list_free(st->parts, &st->n_parts);
	list_free(st->firmware, &st->n_firmware);
}

bool ag_state_list_has(char *const *list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

int ag_state_list_add(char **list, size_t *n, const char *s)
{
	if (ag_state_list_has(list, *n, s))
		return 0;
	if (*n >= AG_STATE_MAX_LIST)
		return -1;
	char *d = strdup(s);
	if (d == NULL)
		return -1;
	list[(*n)++] = d;
	return 0;
}

static int serial_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64 || s[0] == '.')
		return 0;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '.' || *p == '_' || *p == '-'))
			return 0;
	return 1;
}

static char *state_path(const char *dir, const char *serial)
{
	char name[96];
	snprintf(name, sizeof(name), "%s.state", serial);
	return tm_path_join(dir, name);
}

int ag_state_load(const char *dir, const char *serial, struct ag_state *st, struct tm_error *err)
{
	struct tm_buf b;
	tm_buf_init(&b);
	char *path = NULL;
	int rc = -1;
	ag_state_fini(st);
	ag_state_init(st);
	if (!serial_ok(serial))
		return tm_error_set(err, "config.bad_value", "device serial '%.64s' cannot name a state file", serial);
	snprintf(st->serial, sizeof(st->serial), "%s", serial);
	path = state_path(dir, serial);
	if (path == NULL) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	FILE *probe = fopen(path, "rb");
	if (probe == NULL && errno == ENOENT) {
		rc = 0;
		goto out;
	}
	if (probe != NULL)
		fclose(probe);
	if (tm_buf_read_file(&b, path, AG_STATE_MAX_BYTES, err) != 0)
		goto out;
	char *save = NULL;
	unsigned lineno = 0;
	bool header = false, end = false;
	for (char *line = strtok_r((char *)b.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		char *val = strchr(line, ' ');
		if (val != NULL)
			*val++ = '\0';
		int bad = 0;
		if (end) {
			bad = 1;
		} else if (!header) {
			bad = strcmp(line, "telemail-agent-state") != 0 || val == NULL || strcmp(val, "1") != 0;
			header = true;
		} else if (strcmp(line, "end") == 0) {
			end = true;
		} else if (val == NULL) {
			bad = 1;
		} else if (strcmp(line, "serial") == 0) {
			bad = strcmp(val, serial) != 0;
		} else if (strcmp(line, "seq") == 0) {
			char *e;
			errno = 0;
			long long v = strtoll(val, &e, 10);
			bad = errno != 0 || *e != '\0' || v < 0;
			st->seq = v;
		} else if (strcmp(line, "primed") == 0) {
			st->primed = strcmp(val, "1") == 0;
		} else if (strcmp(line, "state") == 0) {
			snprintf(st->pstate, sizeof(st->pstate), "%s", val);
		} else if (strcmp(line, "supply") == 0) {
			long long idx;
			int fl, used = 0;
			bad = st->n_supplies >= AG_STATE_MAX_LIST ||
			      sscanf(val, "%lld %d %n", &idx, &fl, &used) != 2 ||
			      strlen(val + used) > AG_PART_MAX;
			if (!bad) {
				struct ag_state_supply *sp = &st->supplies[st->n_supplies++];
				sp->index = idx;
				sp->flags = fl;
				snprintf(sp->part, sizeof(sp->part), "%s", val + used);
			}
		} else if (strcmp(line, "alert") == 0) {
			bad = ag_state_list_add(st->alerts, &st->n_alerts, val);
		} else if (strcmp(line, "condition") == 0) {
			bad = ag_state_list_add(st->conditions, &st->n_conditions, val);
		} else if (strcmp(line, "part") == 0) {
			bad = ag_state_list_add(st->parts, &st->n_parts, val);
		} else if (strcmp(line, "counter") == 0) {
			struct ag_state_counter *c = &st->counters[st->n_counters];
			unsigned long long last, wraps;
			char key[48];
			bad = st->n_counters >= AG_STATE_MAX_COUNTERS ||
			      sscanf(val, "%47s %llu %llu", key, &last, &wraps) != 3 ||
			      last > UINT32_MAX || wraps > UINT32_MAX;
			if (!bad) {
				snprintf(c->key, sizeof(c->key), "%s", key);
				c->last = (uint32_t)last;
				c->wraps = (uint32_t)wraps;
				st->n_counters++;
			}
		} else if (strcmp(line, "source") == 0) {
			bad = strlen(val) >= AG_SOURCE_MAX;
			snprintf(st->source, sizeof(st->source), "%s", val);
		} else if (strcmp(line, "previous") == 0) {
			bad = strlen(val) >= AG_SOURCE_MAX;
			snprintf(st->previous, sizeof(st->previous), "%s", val);
		} else if (strcmp(line, "clash") == 0) {
			char *b2 = strchr(val, ' ');
			bad = b2 == NULL || (size_t)(b2 - val) >= AG_SOURCE_MAX || strlen(b2 + 1) >= AG_SOURCE_MAX;
			if (!bad) {
				*b2 = '\0';
				ag_state_clash(st, val, b2 + 1);
			}
		} else if (strcmp(line, "firmware") == 0) {
			bad = ag_state_list_add(st->firmware, &st->n_firmware, val);
		} else {
			bad = 1;
		}
		if (bad) {
			tm_error_set(err, "state.corrupt", "%s: line %u: cannot parse '%.40s'", path, lineno, line);
			goto out;
		}
	}
	if (!end) {
		tm_error_set(err, "state.corrupt", "%s: truncated (no end line)", path);
		goto out;
	}
	rc = 0;
out:
	free(path);
	tm_buf_fini(&b);
	return rc;
}

int ag_state_save(const char *dir, const struct ag_state *st, struct tm_error *err)
{
	struct tm_buf b;
	tm_buf_init(&b);
	char *path = NULL;
	int rc = -1;
	int w = tm_buf_printf(&b, "telemail-agent-state 1\nserial %s\nseq %" PRId64 "\nprimed %d\n",
			      st->serial, st->seq, st->primed ? 1 : 0);
	if (st->pstate[0])
		w |= tm_buf_printf(&b, "state %s\n", st->pstate);
	for (size_t i = 0; i < st->n_supplies; i++)
		w |= tm_buf_printf(&b, "supply %" PRId64 " %d%s%s\n", st->supplies[i].index,
				   st->supplies[i].flags, st->supplies[i].part[0] ? " " : "",
				   st->supplies[i].part);
	for (size_t i = 0; i < st->n_alerts; i++)
		w |= tm_buf_printf(&b, "alert %s\n", st->alerts[i]);
	for (size_t i = 0; i < st->n_conditions; i++)
		w |= tm_buf_printf(&b, "condition %s\n", st->conditions[i]);
	for (size_t i = 0; i < st->n_parts; i++)
		w |= tm_buf_printf(&b, "part %s\n", st->parts[i]);
	for (size_t i = 0; i < st->n_firmware; i++)
		w |= tm_buf_printf(&b, "firmware %s\n", st->firmware[i]);
	for (size_t i = 0; i < st->n_counters; i++)
		w |= tm_buf_printf(&b, "counter %s %" PRIu32 " %" PRIu32 "\n", st->counters[i].key,
				   st->counters[i].last, st->counters[i].wraps);
	if (st->source[0])
		w |= tm_buf_printf(&b, "source %s\n", st->source);
	if (st->previous[0])
		w |= tm_buf_printf(&b, "previous %s\n", st->previous);
	if (st->clash[0][0])
		w |= tm_buf_printf(&b, "clash %s %s\n", st->clash[0], st->clash[1]);
	w |= tm_buf_append_str(&b, "end\n");
	if (w != 0) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	if (ag_fs_mkdirs(dir, err) != 0)
		goto out;
	path = state_path(dir, st->serial);
	if (path == NULL) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	rc = ag_fs_write_atomic(path, b.data, b.len, err);
out:
	free(path);
	tm_buf_fini(&b);
	return rc;
}

int ag_state_next_seq(const char *dir, struct ag_state *st, int64_t *seq, struct tm_error *err)
{
	if (st->seq >= INT64_C(9007199254740991))
		return tm_error_set(err, "state.corrupt", "%s: seq exhausted", st->serial);
	st->seq++;
	if (ag_state_save(dir, st, err) != 0) {
		st->seq--;
		return -1;
	}
	*seq = st->seq;
	return 0;
}

/* Sources are kept on one line of the state file: no spaces or controls. */
static void source_set(char *dst, const char *src)
{
	snprintf(dst, AG_SOURCE_MAX, "%s", src);
	for (char *p = dst; *p; p++)
		if ((unsigned char)*p <= ' ')
			*p = '_';
}

void ag_state_clash(struct ag_state *st, const char *a, const char *b)
{
	/* in a fixed order, so the same pair is the same line */
	if (strcmp(a, b) > 0) {
		const char *t = a;
		a = b;
		b = t;
	}
	source_set(st->clash[0], a);
	source_set(st->clash[1], b);
}

int ag_state_source(struct ag_state *st, const char *source, bool alone, bool *same_source,
		    struct tm_error *err)
{
	char src[AG_SOURCE_MAX];
	source_set(src, source);
	*same_source = false;
	if (st->clash[0][0]) {
		bool member = strcmp(src, st->clash[0]) == 0 || strcmp(src, st->clash[1]) == 0;
		if (!alone || !member)
			return tm_error_set(err, "collect.serial_clash",
					    "serial %s is reported by both %s and %s: held back until only one "
					    "device reports it", st->serial, st->clash[0], st->clash[1]);
		/* resolved: the other device is gone or reports another serial. Its
		 * last counter values are not this device's: no wrap at this reading. */
		st->clash[0][0] = st->clash[1][0] = '\0';
		st->previous[0] = '\0';
		snprintf(st->source, sizeof(st->source), "%s", src);
		return 0;
	}
	if (st->source[0] == '\0' || strcmp(st->source, src) == 0) {
		*same_source = st->source[0] != '\0';
		snprintf(st->source, sizeof(st->source), "%s", src);
		return 0;
	}
	if (st->previous[0] && strcmp(st->previous, src) == 0) {
		/* back to the source before: two devices taking turns */
		ag_state_clash(st, st->source, src);
		return tm_error_set(err, "collect.serial_clash",
				    "serial %s went back from %s to %s: two devices report it; held back "
				    "until only one does", st->serial, st->source, src);
	}
	/* a move (a new address): counted from here, no wrap across it */
	snprintf(st->previous, sizeof(st->previous), "%s", st->source);
	snprintf(st->source, sizeof(st->source), "%s", src);
	return 0;
}

#define WRAP_TOP (UINT32_MAX - UINT32_MAX / 10)
#define WRAP_BOTTOM (UINT32_MAX / 10)

int64_t ag_state_counter_total(struct ag_state *st, const char *key, uint32_t raw, bool same_source)
{
	struct ag_state_counter *c = NULL;
	for (size_t i = 0; i < st->n_counters && c == NULL; i++)
		if (strcmp(st->counters[i].key, key) == 0)
			c = &st->counters[i];
	if (c == NULL && st->n_counters < AG_STATE_MAX_COUNTERS) {
		c = &st->counters[st->n_counters++];
		snprintf(c->key, sizeof(c->key), "%s", key);
		c->last = raw;
		c->wraps = 0;
	}
	if (c == NULL)
		return (int64_t)raw;
	if (same_source && raw < c->last && c->last >= WRAP_TOP && raw <= WRAP_BOTTOM)
		c->wraps++;
	c->last = raw;
	return ((int64_t)c->wraps << 32) + (int64_t)raw;
}
