/* telemail-mailgw — a time zone from its TZif file (see tzfile.h). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/time.h>

#include "config/tzfile.h"

#define TZ_FILE_MAX (256 * 1024)   /* the largest zone file is ~3 KB */

/* The footer's rule: std/dst offsets and the two changes (month, week, day, time). */
struct rule_change {
	int month, week, wday;
	int32_t time;   /* local seconds after midnight (may be negative or over 24 h) */
};

struct gw_tz {
	char name[GW_TZ_NAME_MAX + 1];
	int64_t *at;          /* transitions, ascending */
	uint8_t *idx;         /* the type after each */
	size_t n;
	int32_t *utoff;       /* per type */
	size_t ntypes;
	bool has_rule;        /* the footer has a rule usable after the last transition */
	bool rule_dst;        /* it has a DST part */
	int32_t std_off, dst_off;
	struct rule_change start, end;
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* ---- the footer: a POSIX TZ string ---- */

static const char *skip_name(const char *s)
{
	if (*s == '<') {
		const char *e = strchr(s, '>');
		return e != NULL ? e + 1 : NULL;
	}
	const char *b = s;
	while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z'))
		s++;
	return s - b >= 3 ? s : NULL;
}

/* [+-]hh[:mm[:ss]] → seconds; NULL when malformed. */
static const char *read_hms(const char *s, int32_t *out)
{
	int sign = 1;
	if (*s == '+' || *s == '-')
		sign = *s++ == '-' ? -1 : 1;
	static const int32_t unit[] = { 3600, 60, 1 };
	int32_t v = 0;
	for (int field = 0; field < 3; field++) {
		if (field > 0 && *s != ':')
			break;
		if (field > 0)
			s++;
		if (*s < '0' || *s > '9')
			return NULL;
		int32_t part = 0;
		while (*s >= '0' && *s <= '9' && part < 1000)
			part = part * 10 + (*s++ - '0');
		v += part * unit[field];
	}
	*out = sign * v;
	return s;
}

static const char *read_change(const char *s, struct rule_change *c)
{
	if (*s++ != ',' || *s++ != 'M')
		return NULL;   /* Jn and n forms: not written by the tz database */
	char *e;
	long m = strtol(s, &e, 10);
	if (*e != '.')
		return NULL;
	long w = strtol(e + 1, &e, 10);
	if (*e != '.')
		return NULL;
	long d = strtol(e + 1, &e, 10);
	if (m < 1 || m > 12 || w < 1 || w > 5 || d < 0 || d > 6)
		return NULL;
	c->month = (int)m;
	c->week = (int)w;
	c->wday = (int)d;
	c->time = 2 * 3600;
	s = e;
	if (*s == '/' && (s = read_hms(s + 1, &c->time)) == NULL)
		return NULL;
	return s;
}

static void read_footer(struct gw_tz *z, const char *s)
{
	int32_t std, dst;
	if ((s = skip_name(s)) == NULL || (s = read_hms(s, &std)) == NULL)
		return;
	z->std_off = -std;   /* POSIX offsets are west of UTC */
	if (*s == '\0') {
		z->has_rule = true;
		return;
	}
	if ((s = skip_name(s)) == NULL)
		return;
	dst = std - 3600;
	if (*s != ',' && (s = read_hms(s, &dst)) == NULL)
		return;
	z->dst_off = -dst;
	if ((s = read_change(s, &z->start)) == NULL || (s = read_change(s, &z->end)) == NULL ||
	    *s != '\0')
		return;
	z->has_rule = z->rule_dst = true;
}

/* The instant of a change in year y, its local time read with offset off. */
static int64_t change_at(const struct rule_change *c, int64_t y, int32_t off)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int64_t first = tm_time_days_from_civil(y, c->month, 1);
	int wd1 = (int)(((first + 4) % 7 + 7) % 7);   /* 1970-01-01 was a Thursday */
	int len = mdays[c->month - 1] +
		  (c->month == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
	int day = 1 + (c->wday - wd1 + 7) % 7 + (c->week - 1) * 7;
	while (day > len)
		day -= 7;
	return (first + day - 1) * 86400 + c->time - off;
}

static int32_t rule_offset(const struct gw_tz *z, int64_t t)
{
	if (!z->rule_dst)
		return z->std_off;
	int64_t y;
	int m, d;
	tm_time_civil_from_days((t + z->std_off) / 86400 - ((t + z->std_off) % 86400 < 0), &y, &m, &d);
	int64_t on = change_at(&z->start, y, z->std_off), off = change_at(&z->end, y, z->dst_off);
	bool dst = on < off ? t >= on && t < off : !(t >= off && t < on);
	return dst ? z->dst_off : z->std_off;
}

/* ---- the file ---- */

static bool good_name(const char *n)
{
	size_t len = strlen(n);
	if (len == 0 || len > GW_TZ_NAME_MAX)
		return false;
	for (const char *p = n; *p != '\0'; p++) {
		bool part_start = p == n || p[-1] == '/';
		if (part_start && (*p == '.' || *p == '/' || *p == '-'))
			return false;
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '_' || *p == '+' || *p == '-' || *p == '/'))
			return false;
	}
	return n[len - 1] != '/';
}

/* The counts of a header at p (44 bytes). */
struct counts {
	uint32_t isut, isstd, leap, time, type, chars;
};

static void header(const uint8_t *p, struct counts *c)
{
	c->isut = be32(p + 20);
	c->isstd = be32(p + 24);
	c->leap = be32(p + 28);
	c->time = be32(p + 32);
	c->type = be32(p + 36);
	c->chars = be32(p + 40);
}

static size_t block_len(const struct counts *c, size_t tsz)
{
	return (size_t)c->time * tsz + c->time + (size_t)c->type * 6 + c->chars +
	       (size_t)c->leap * (tsz + 4) + c->isstd + c->isut;
}

static int parse(struct gw_tz *z, const uint8_t *b, size_t len)
{
	struct counts c;
	if (len < 44 || memcmp(b, "TZif", 4) != 0 || b[4] < '2')
		return -1;   /* version 1 files have 32-bit times only: not written since 2005 */
	header(b, &c);
	size_t off = 44 + block_len(&c, 4);
	if (c.time > 10000 || c.type > 256 || c.chars > 1024 || c.leap > 1000 || len < off + 44 ||
	    memcmp(b + off, "TZif", 4) != 0)
		return -1;
	header(b + off, &c);
	off += 44;
	if (c.time > 10000 || c.type == 0 || c.type > 256 || c.chars > 1024 || c.leap > 1000 ||
	    len < off + block_len(&c, 8))
		return -1;
	z->n = c.time;
	z->ntypes = c.type;
	z->at = calloc(c.time + 1, sizeof(*z->at));
	z->idx = calloc(c.time + 1, 1);
	z->utoff = calloc(c.type, sizeof(*z->utoff));
	if (z->at == NULL || z->idx == NULL || z->utoff == NULL)
		return -2;
	for (size_t i = 0; i < c.time; i++)
		z->at[i] = be64(b + off + 8 * i);
	off += (size_t)c.time * 8;
	for (size_t i = 0; i < c.time; i++)
		if ((z->idx[i] = b[off + i]) >= c.type)
			return -1;
	off += c.time;
	for (size_t i = 0; i < c.type; i++)
		z->utoff[i] = (int32_t)be32(b + off + 6 * i);
	off += (size_t)c.type * 6 + c.chars + (size_t)c.leap * 12 + c.isstd + c.isut;
	/* the footer: "\n" TZ "\n" */
	if (off < len && b[off] == '\n') {
		const uint8_t *e = memchr(b + off + 1, '\n', len - off - 1);
		if (e != NULL && e - (b + off + 1) < 128) {
			char foot[128];
			memcpy(foot, b + off + 1, (size_t)(e - (b + off + 1)));
			foot[e - (b + off + 1)] = '\0';
			read_footer(z, foot);
		}
	}
	return 0;
}

int gw_tz_load(const char *name, struct gw_tz **out, struct tm_error *err)
{
	*out = NULL;
	if (name == NULL || !good_name(name))
		return tm_error_set(err, "billing.time_zone",
				    "time zone '%.64s': want a tz database name such as Europe/Berlin",
				    name != NULL ? name : "");
	const char *dir = getenv("TZDIR");
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", dir != NULL && dir[0] != '\0' ? dir : "/usr/share/zoneinfo",
		 name);
	struct tm_buf b;
	struct tm_error ferr = {0};
	tm_buf_init(&b);
	struct gw_tz *z = calloc(1, sizeof(*z));
	if (z == NULL) {
		tm_buf_fini(&b);
		return tm_error_set(err, "internal.nomem", "out of memory");
	}
	snprintf(z->name, sizeof(z->name), "%s", name);
	int rc = tm_buf_read_file(&b, path, TZ_FILE_MAX, &ferr) < 0 ? -1 : parse(z, b.data, b.len);
	tm_buf_fini(&b);
	if (rc < 0) {
		gw_tz_free(z);
		if (rc == -2)
			return tm_error_set(err, "internal.nomem", "out of memory");
		if (ferr.reason != NULL)
			return tm_error_set(err, "billing.time_zone", "time zone '%s': %s is missing or "
					    "unreadable (is tzdata installed?)", name, path);
		return tm_error_set(err, "billing.time_zone", "time zone '%s': %s is not a TZif file "
				    "(version 2 or later)", name, path);
	}
	*out = z;
	return 0;
}

void gw_tz_free(struct gw_tz *z)
{
	if (z == NULL)
		return;
	free(z->at);
	free(z->idx);
	free(z->utoff);
	free(z);
}

const char *gw_tz_name(const struct gw_tz *z)
{
	return z->name;
}

int32_t gw_tz_offset(const struct gw_tz *z, int64_t utc)
{
	if (z->n == 0 || utc >= z->at[z->n - 1]) {   /* after the last transition: the footer */
		if (z->has_rule)
			return rule_offset(z, utc);
		return z->n == 0 ? z->utoff[0] : z->utoff[z->idx[z->n - 1]];
	}
	if (utc < z->at[0])
		return z->utoff[0];
	size_t lo = 0, hi = z->n - 1;   /* at[lo] <= utc < at[hi] */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (z->at[mid] <= utc)
			lo = mid;
		else
			hi = mid;
	}
	return z->utoff[z->idx[lo]];
}

int64_t gw_tz_local_to_utc(const struct gw_tz *z, int64_t local)
{
	/* Read the wall time with the offset of two days before (offsets are
	 * under a day, changes days apart): no change since then is the usual
	 * case, and in an overlap it gives the first instant. */
	int32_t before = gw_tz_offset(z, local - 2 * 86400);
	int64_t t = local - before;
	if (gw_tz_offset(z, t) == before)
		return t;
	/* A change lies between: the offset after it, if the wall time exists
	 * then; else it fell in the gap, and t (read with the offset before)
	 * lies after the gap. */
	int64_t u = local - gw_tz_offset(z, t);
	return gw_tz_offset(z, u) == gw_tz_offset(z, t) ? u : t;
}
