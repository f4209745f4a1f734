/* The report round-trip property (parser/report/report.c, parser/report/report_write.c):
 * seeded random reports are written, read back through the schema, compared
 * and written again to the same bytes; PyYAML reads what we write to the
 * same values. Suite: report. */
#include <inttypes.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/node.h>
#include <telemail/normalize.h>
#include <telemail/report.h>

#include "common.h"

#define MAX_SAFE 9007199254740991LL

/* ---- the round-trip property ------------------------------------------------------ */

struct rng {
	uint64_t s;
};

static uint64_t next(struct rng *g)
{
	/* xorshift64* */
	g->s ^= g->s >> 12;
	g->s ^= g->s << 25;
	g->s ^= g->s >> 27;
	return g->s * 2685821657736338717ULL;
}

static int64_t range(struct rng *g, int64_t lo, int64_t hi)
{
	return lo + (int64_t)(next(g) % (uint64_t)(hi - lo + 1));
}

#define coin(g) ((int)(next(g) & 1))
#define PICK(g, list) ((list)[next(g) % (sizeof(list) / sizeof((list)[0]))])

/* a string over an alphabet, length lo..hi */
static char *from_alphabet(struct rng *g, const char *alpha, int lo, int hi)
{
	int n = (int)range(g, lo, hi);
	char *s = malloc((size_t)n + 1);
	size_t al = strlen(alpha);
	for (int i = 0; i < n; i++)
		s[i] = alpha[next(g) % al];
	s[n] = '\0';
	return s;
}

/* free text with everything a YAML writer can get wrong, at most max bytes */
static char *awkward(struct rng *g, size_t max)
{
	static const char *const bits[] = {
		"a", "Zz", " ", "  lead", "trail  ", "\"", "'", "\\", ":", ": ", " #", "#", "- ", "? ",
		"[", "]", "{", "}", ",", "&a", "*a", "!tag", "!!str", "%", "@", "`", "|", ">", "---",
		"...", "null", "true", "yes", "~", "0x1F", "1e3", "2024-01-01T00:00:00Z", "\t", "\n",
		"\r\n", "\x01", "\x1b", "\x7f", "\xc2\x85", "\xc2\xa0", "\xe2\x80\xa8", "\xe2\x80\xa9",
		"\xef\xbb\xbf", "\xef\xbf\xbd", "\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac",
		"\xf0\x9f\x96\xa8", "\xef\xbf\xbe", "\\n", "\\x41", "=",
	};
	size_t cap = max + 1;
	char *s = malloc(cap);
	size_t len = 0;
	int parts = (int)range(g, 0, 12);
	for (int i = 0; i < parts; i++) {
		const char *b = PICK(g, bits);
		size_t bl = strlen(b);
		if (len + bl > max)
			break;
		memcpy(s + len, b, bl);
		len += bl;
	}
	s[len] = '\0';
	return s;
}

#define maybe_text(g, max) (coin(g) ? awkward((g), (max)) : NULL)

static char *timestamp(struct rng *g, int utc_only)
{
	char buf[48];
	int y = (int)range(g, 1970, 2099), mo = (int)range(g, 1, 12), d = (int)range(g, 1, 28);
	int n = snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d", y, mo, d,
			 (int)range(g, 0, 23), (int)range(g, 0, 59), (int)range(g, 0, 60));
	if (coin(g)) {
		int digits = (int)range(g, 1, 9);
		buf[n++] = '.';
		for (int i = 0; i < digits; i++)
			buf[n++] = (char)('0' + range(g, 0, 9));
		buf[n] = '\0';
	}
	if (utc_only || coin(g))
		snprintf(buf + n, sizeof(buf) - (size_t)n, "Z");
	else
		snprintf(buf + n, sizeof(buf) - (size_t)n, "%c%02d:%02d", coin(g) ? '+' : '-',
			 (int)range(g, 0, 14), (int)range(g, 0, 59));
	return strdup(buf);
}

static int64_t edge_count(struct rng *g)
{
	uint64_t k = next(g) % 4;
	return k == 0 ? 0 : k == 1 ? MAX_SAFE : range(g, 0, MAX_SAFE);
}

#define opt_count(g) (coin(g) ? TM_UNSET : edge_count(g))

static double random_double(struct rng *g)
{
	static const double specials[] = { 0.0, -0.0, 0.1, 1.0 / 3.0, 1e20, -1e-7, 5e-324,
					   1.7976931348623157e308, 100.0, 9007199254740993.0 };
	if (coin(g))
		return specials[next(g) % (sizeof(specials) / sizeof(specials[0]))];
	for (;;) {
		uint64_t bits = next(g);
		double d;
		memcpy(&d, &bits, sizeof(d));
		if (isfinite(d))
			return d;
	}
}

#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

static const char *const kinds_c[] = { "schedule", "manual", "supply_low", "alert", "part_life" };
static const char *const states[] = { "other", "unknown", "idle", "printing", "warmup" };
static const char *const conds[] = { "lowPaper", "noPaper", "lowToner", "noToner", "doorOpen",
				     "jammed", "offline", "serviceRequested", "inputTrayMissing" };
static const char *const supply_types[] = { "toner", "tonerCartridge", "wasteToner", "ink", "opc" };
static const char *const supply_units[] = { "percent", "impressions", "tenthsOfMilliliters", "items" };
static const char *const part_units[] = { "impressions", "sheets", "hours", "rotations", "count" };
static const char *const vendor_units[] = { "impressions", "sheets", "images", "count" };
static const char *const severities[] = { "critical", "warning", "info" };
static const char *const groups[] = { "generalPrinter", "cover", "input", "markerSupplies" };

static void random_counters(struct rng *g, struct tm_report *r)
{
	r->has_counters = true;
	for (int s = 0; s < TM_SVC_COUNT; s++) {
		if (!coin(g))
			continue;
		struct tm_counter_set *c = &r->service[s];
		r->has_service[s] = true;
		c->impressions = opt_count(g);
		c->impressions_monochrome = opt_count(g);
		c->impressions_full_color = opt_count(g);
		c->impressions_two_sided = opt_count(g);
		c->sheets = opt_count(g);
		c->sheets_two_sided = opt_count(g);
		c->images = edge_count(g); /* one always set: minProperties 1 */
	}
	r->n_vendor = (size_t)range(g, 0, 3);
	r->vendor = calloc(r->n_vendor + 1, sizeof(*r->vendor));
	for (size_t i = 0; i < r->n_vendor; i++) {
		r->vendor[i].id = from_alphabet(g, ALNUM "._-", 1, 32);
		r->vendor[i].name = maybe_text(g, 256);
		r->vendor[i].unit = coin(g) ? strdup(PICK(g, vendor_units)) : NULL;
		r->vendor[i].value = edge_count(g);
	}
}

static void random_lists(struct rng *g, struct tm_report *r)
{
	if ((r->has_supplies = coin(g))) {
		r->n_supplies = (size_t)range(g, 0, 4);
		r->supplies = calloc(r->n_supplies + 1, sizeof(*r->supplies));
		for (size_t i = 0; i < r->n_supplies; i++) {
			struct tm_supply *s = &r->supplies[i];
			s->index = range(g, 1, 65535);
			s->type = strdup(PICK(g, supply_types));
			s->colorant = coin(g) ? from_alphabet(g, ALNUM " _-", 1, 32) : NULL;
			s->description = maybe_text(g, 256);
			s->unit = coin(g) ? strdup(PICK(g, supply_units)) : NULL;
			s->max_capacity = coin(g) ? TM_UNSET : range(g, -2, 2147483647);
			s->level = coin(g) ? range(g, -3, -1) : range(g, 0, 2147483647);
			s->part_number = coin(g) ? from_alphabet(g, ALNUM "._/ -", 1, 64) : NULL;
		}
	}
	if ((r->has_parts = coin(g))) {
		r->n_parts = (size_t)range(g, 0, 3);
		r->parts = calloc(r->n_parts + 1, sizeof(*r->parts));
		for (size_t i = 0; i < r->n_parts; i++) {
			r->parts[i].name = from_alphabet(g, ALNUM "._/() -", 1, 64);
			r->parts[i].used = edge_count(g);
			r->parts[i].rated_life = opt_count(g);
			r->parts[i].unit = coin(g) ? strdup(PICK(g, part_units)) : NULL;
		}
	}
	if ((r->has_alerts = coin(g))) {
		r->n_alerts = (size_t)range(g, 0, 3);
		r->alerts = calloc(r->n_alerts + 1, sizeof(*r->alerts));
		for (size_t i = 0; i < r->n_alerts; i++) {
			struct tm_alert *a = &r->alerts[i];
			a->code = from_alphabet(g, ALNUM "._:-", 1, 32);
			a->sub_code = coin(g) ? from_alphabet(g, ALNUM "._:-", 1, 32) : NULL;
			a->severity = strdup(PICK(g, severities));
			a->group = coin(g) ? strdup(PICK(g, groups)) : NULL;
			a->location = coin(g) ? TM_UNSET : range(g, -2, 2147483647);
			a->description = maybe_text(g, 256);
			a->time = coin(g) ? timestamp(g, 0) : NULL;
			a->counter = opt_count(g);
		}
	}
}

static int pii_name(const char *name)
{
	regex_t re;
	int rc = regcomp(&re, "user|owner|e-?mail|mail_?addr|document|doc_?name|job|file_?name|"
			 "filename|author|account|login|person|phone", REG_EXTENDED | REG_NOSUB);
	cr_assert_eq(rc, 0);
	int hit = regexec(&re, name, 0, NULL, 0) == 0;
	regfree(&re);
	return hit;
}

static void random_diagnostics(struct rng *g, struct tm_report *r)
{
	r->has_diagnostics = true;
	size_t want = (size_t)range(g, 0, 8);
	r->diagnostics = calloc(want + 1, sizeof(*r->diagnostics));
	while (r->n_diagnostics < want) {
		char *name = from_alphabet(g, "abcdefghijklmnopqrstuvwxyz0123456789_.", 1, 24);
		name[0] = (char)('a' + next(g) % 26);
		int dup = pii_name(name);
		for (size_t i = 0; i < r->n_diagnostics && !dup; i++)
			dup = strcmp(r->diagnostics[i].name, name) == 0;
		if (dup) {
			free(name);
			continue;
		}
		struct tm_diag *d = &r->diagnostics[r->n_diagnostics++];
		d->name = name;
		d->type = (enum tm_diag_type)range(g, 0, 3);
		switch (d->type) {
		case TM_DIAG_STRING:
			d->s = awkward(g, 256);
			break;
		case TM_DIAG_INT:
			d->i = coin(g) ? (int64_t)next(g) : range(g, -3, 3);
			break;
		case TM_DIAG_FLOAT:
			d->f = random_double(g);
			break;
		case TM_DIAG_BOOL:
			d->b = coin(g);
			break;
		}
	}
}

static struct tm_report *random_report(struct rng *g)
{
	static const char hex[] = "0123456789abcdef";
	struct tm_report *r = tm_report_new();
	char id[37];
	for (int i = 0; i < 36; i++)
		id[i] = (i == 8 || i == 13 || i == 18 || i == 23) ? '-' : hex[next(g) % 16];
	id[36] = '\0';
	r->id = strdup(id);
	r->seq = coin(g) ? (coin(g) ? 1 : MAX_SAFE) : range(g, 1, MAX_SAFE);
	r->kind = (enum tm_report_kind)range(g, 0, 3);
	r->generated_at = timestamp(g, 1);
	r->agent = from_alphabet(g, ALNUM "._+/-", 1, 64);
	if (coin(g)) {
		r->trigger_cause = strdup(PICK(g, kinds_c));
		r->trigger_subject = maybe_text(g, 128);
	}
	r->outbox_gap = opt_count(g);

	r->serial = from_alphabet(g, ALNUM "._-", 1, 64);
	r->manufacturer = maybe_text(g, 256);
	r->model = maybe_text(g, 256);
	r->name = maybe_text(g, 256);
	r->location = maybe_text(g, 256);
	r->ip = coin(g) ? strdup(coin(g) ? "192.0.2.41" : "2001:db8::1") : NULL;
	r->mac = coin(g) ? strdup("00:1b:2c:3d:4e:5f") : NULL;
	r->n_firmware = (size_t)range(g, 0, 3);
	r->firmware = calloc(r->n_firmware + 1, sizeof(*r->firmware));
	for (size_t i = 0; i < r->n_firmware; i++) {
		r->firmware[i].component = from_alphabet(g, ALNUM "._ -", 1, 64);
		r->firmware[i].version = from_alphabet(g, ALNUM "._+: ()/-", 1, 64);
	}
	if ((r->has_status = coin(g))) {
		r->state = strdup(PICK(g, states));
		size_t nc = sizeof(conds) / sizeof(conds[0]);
		size_t start = next(g) % nc;
		r->n_conditions = (size_t)range(g, 0, 4);
		r->conditions = calloc(r->n_conditions + 1, sizeof(char *));
		for (size_t i = 0; i < r->n_conditions; i++)
			r->conditions[i] = strdup(conds[(start + i) % nc]); /* distinct */
		r->status_since = coin(g) ? timestamp(g, 0) : NULL;
	}
	if (coin(g))
		random_counters(g, r);
	random_lists(g, r);
	if (coin(g))
		random_diagnostics(g, r);
	return r;
}

Test(report, round_trip_property, .timeout = 240)
{
	struct rng g = { .s = 0x7e1e3a11c0ffee01ULL };
	int n = 600;
	for (int i = 0; i < n; i++) {
		struct tm_report *r = random_report(&g);
		char what[32];
		snprintf(what, sizeof(what), "random report %d", i);
		tm_test_report_round_trip(r, what);
		tm_report_free(r);
	}
}

/* The canonical record agrees with jansson, an independent JSON library:
 * jansson reads it back and dumps the values compact, keys sorted, reals at
 * the record's precision, to the very same bytes. */
static int jansson_prec(const json_t *v, int prec)
{
	const char *k;
	json_t *x;
	size_t i;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		json_object_foreach((json_t *)v, k, x)
			prec = jansson_prec(x, prec);
		break;
	case JSON_ARRAY:
		json_array_foreach(v, i, x)
			prec = jansson_prec(x, prec);
		break;
	case JSON_REAL:
		for (int p = prec; p <= 17; p++) {
			char tmp[40];
			snprintf(tmp, sizeof(tmp), "%.*g", p, json_real_value(v));
			if (strtod(tmp, NULL) == json_real_value(v) || p == 17) {
				prec = p;
				break;
			}
		}
		break;
	default:
		break;
	}
	return prec;
}

Test(report, normalize_agrees_with_jansson, .timeout = 240)
{
	struct rng g = { .s = 0x5eed0fca40a1ca11ULL };
	for (int i = 0; i < 3000; i++) {
		struct tm_report *r = random_report(&g);
		struct tm_buf b;
		struct tm_error err = {0};
		tm_buf_init(&b);
		cr_assert_eq(tm_report_normalize(r, &b, &err), 0, "report %d: %s", i, err.msg);
		json_error_t je;
		json_t *v = json_loadb((const char *)b.data, b.len, 0, &je);
		cr_assert_not_null(v, "report %d: jansson cannot read the record: %s at %d", i, je.text,
				   je.position);
		char *again = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS |
						    JSON_REAL_PRECISION(jansson_prec(v, 1)));
		cr_assert_not_null(again);
		cr_assert_eq(strlen(again), b.len, "report %d:\n%s\n%s", i, (const char *)b.data, again);
		cr_assert_eq(memcmp(again, b.data, b.len), 0, "report %d:\n%s\n%s", i,
			     (const char *)b.data, again);
		free(again);
		json_decref(v);
		tm_buf_fini(&b);
		tm_report_free(r);
	}
}

/* PyYAML (YAML 1.1, a different implementation) must read the writer's output
 * to the very same values as tm_yaml_read. The test dumps our reading as JSON
 * (floats as their bit pattern) and Python compares, types included. */
static void put_json_string(struct tm_buf *b, const char *s)
{
	tm_buf_append_str(b, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == '"' || *p == '\\')
			tm_buf_printf(b, "\\u%04x", *p);
		else
			tm_buf_append(b, p, 1);
	}
	tm_buf_append_str(b, "\"");
}

static void json_tree(struct tm_buf *b, const struct tm_node *n)
{
	switch (n->type) {
	case TM_NODE_NULL:
	case TM_NODE_BOOL:
		tm_buf_append_str(b, n->type == TM_NODE_NULL ? "null" : n->u.b ? "true" : "false");
		break;
	case TM_NODE_INT:
		tm_buf_printf(b, "%" PRId64, n->u.i);
		break;
	case TM_NODE_FLOAT: {
		int64_t bits;
		memcpy(&bits, &n->u.f, sizeof(bits));
		tm_buf_printf(b, "{\"$f\":%" PRId64 "}", bits);
		break;
	}
	case TM_NODE_STRING:
		put_json_string(b, n->u.str.s);
		break;
	case TM_NODE_SEQ:
	case TM_NODE_MAP: {
		int map = n->type == TM_NODE_MAP;
		size_t count = map ? n->u.map.n : n->u.seq.n;
		tm_buf_append_str(b, map ? "{" : "[");
		for (size_t i = 0; i < count; i++) {
			tm_buf_append_str(b, i ? "," : "");
			if (map) {
				put_json_string(b, n->u.map.pairs[i].key);
				tm_buf_append_str(b, ":");
			}
			json_tree(b, map ? n->u.map.pairs[i].value : n->u.seq.items[i]);
		}
		tm_buf_append_str(b, map ? "}" : "]");
		break;
	}
	}
}

static const char agree_py[] =
	"import json, struct, sys, glob, yaml\n"
	"def conv(v):\n"
	"    if isinstance(v, float): return {'$f': struct.unpack('<q', struct.pack('<d', v))[0]}\n"
	"    if isinstance(v, dict): return {k: conv(x) for k, x in v.items()}\n"
	"    if isinstance(v, list): return [conv(x) for x in v]\n"
	"    return v\n"
	"n = 0\n"
	"for f in sorted(glob.glob(sys.argv[1] + '/*.yaml')):\n"
	"    with open(f, 'rb') as fh: py = json.dumps(conv(yaml.safe_load(fh)))\n"
	"    with open(f[:-5] + '.json', encoding='utf-8') as fh: ours = json.dumps(json.load(fh))\n"
	"    if py != ours: sys.exit('%s:\\nPyYAML: %s\\nours:   %s' % (f, py, ours))\n"
	"    n += 1\n"
	"print('agree', n)\n"
	"sys.exit(0 if n > 0 else 1)\n";

Test(report, pyyaml_reads_the_same_values, .timeout = 240)
{
	char *dir = tm_test_tmpdir();
	struct rng g = { .s = 0x5eed0fca11ab1e55ULL };
	for (int i = 0; i < 80; i++) {
		struct tm_report *r = random_report(&g);
		struct tm_buf y, j;
		tm_buf_init(&y);
		tm_buf_init(&j);
		tm_test_report_write(r, &y);
		struct tm_node *root = NULL;
		struct tm_error err = {0};
		cr_assert_eq(tm_yaml_read(y.data, y.len, NULL, &root, &err), 0, "%s", err.msg);
		json_tree(&j, root);
		char path[256];
		snprintf(path, sizeof(path), "%s/r%03d.yaml", dir, i);
		tm_test_write(path, y.data, y.len);
		snprintf(path, sizeof(path), "%s/r%03d.json", dir, i);
		tm_test_write(path, j.data, j.len);
		tm_node_free(root);
		tm_buf_fini(&y);
		tm_buf_fini(&j);
		tm_report_free(r);
	}
	char script[256];
	snprintf(script, sizeof(script), "%s/agree.py", dir);
	tm_test_write(script, agree_py, strlen(agree_py));
	int st = tm_test_sh("python3 '%s' '%s' >&2", script, dir);
	cr_assert_eq(st, 0, "PyYAML reads the writer's output differently (see the log); files in %s", dir);
	tm_test_rmtree(dir);
	free(dir);
}
