/* config_map: the shared configuration reader (telemail/config_map.h): each
 * type, limits, unknown and missing keys, wrong types, defaults and the
 * --defaults text. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/buf.h>
#include <telemail/config_map.h>
#include <telemail/error.h>
#include <telemail/node.h>

enum mode { MODE_A, MODE_B };

struct inner {
	int64_t wait;
};

struct item {
	char *name;
	int weight;
};

struct target {
	char *name;
	char *file;
	char *owner;
	bool on;
	unsigned count;
	uint64_t bytes;
	int64_t every;
	int mode;
	char **tags;
	size_t n_tags;
	struct item *items;
	size_t n_items;
	struct inner in;
};

#define T(m) TM_CONF_FIELD(struct target, m)

static const struct tm_conf_choice modes[] = { { "a", MODE_A }, { "b", MODE_B }, { NULL, 0 } };

static const struct tm_conf_entry inner_keys[] = {
	TM_CONF_KEY("wait", TM_CONF_DURATION, "30s", 0, 1, 3600,
		    TM_CONF_FIELD(struct target, in.wait), "how long"),
};
static const struct tm_conf_section inner = TM_CONF_TABLE(inner_keys, NULL);

static const struct tm_conf_entry item_keys[] = {
	TM_CONF_KEY("name", TM_CONF_STRING, NULL, TM_CONF_REQUIRED, 0, 8,
		    TM_CONF_FIELD(struct item, name), "the item"),
	TM_CONF_KEY("weight", TM_CONF_INT, "1", 0, 1, 9, TM_CONF_FIELD(struct item, weight),
		    "its weight"),
};
static const struct tm_conf_section item = TM_CONF_TABLE(item_keys, NULL);

static const struct tm_conf_entry keys[] = {
	TM_CONF_KEY("name", TM_CONF_STRING, NULL, TM_CONF_REQUIRED, 0, 16, T(name), "a name"),
	TM_CONF_KEY("file", TM_CONF_PATH, NULL, 0, 0, 0, T(file), "a file"),
	TM_CONF_KEY("owner", TM_CONF_ADDRESS, NULL, 0, 0, 0, T(owner), "a mailbox"),
	TM_CONF_KEY("on", TM_CONF_BOOL, "true", 0, 0, 0, T(on), "a switch"),
	TM_CONF_KEY("count", TM_CONF_INT, "7", 0, 1, 100, T(count), "a number"),
	TM_CONF_KEY("bytes", TM_CONF_SIZE, "4096", 0, 1024, 1 << 20, T(bytes), "a size"),
	TM_CONF_KEY("every", TM_CONF_DURATION, "10m", 0, 60, 86400, T(every), "a period"),
	TM_CONF_KEY("mode", TM_CONF_ENUM, "b", 0, 0, 0, T(mode), "a choice", .choices = modes),
	TM_CONF_KEY("tags", TM_CONF_LIST, NULL, 0, 1, 3, T(tags), "some tags", .of = TM_CONF_STRING,
		    .count_offset = offsetof(struct target, n_tags)),
	TM_CONF_KEY("items", TM_CONF_LIST, NULL, 0, 0, 4, T(items), "some items",
		    .of = TM_CONF_SECTION, .count_offset = offsetof(struct target, n_items),
		    .elem_size = sizeof(struct item), .section = &item),
	TM_CONF_KEY("inner", TM_CONF_SECTION, NULL, 0, 0, 0, TM_CONF_NOFIELD, NULL,
		    .section = &inner),
};
static const struct tm_conf_section top = TM_CONF_TABLE(keys, NULL);

static int read_text(const char *yaml, struct target *t, struct tm_error *err)
{
	struct tm_node *root = NULL;
	memset(t, 0, sizeof(*t));
	cr_assert_eq(tm_yaml_read((const uint8_t *)yaml, strlen(yaml), &TM_YAML_CONFIG_LIMITS, &root,
				  err), 0, "%s", err->msg);
	struct tm_conf_ctx c = { .file = "t.yaml", .base = "/etc/t", .err = err };
	int rc = tm_conf_defaults(&top, t, err);
	if (rc == 0)
		rc = tm_conf_read(&c, &top, root, "", t);
	tm_node_free(root);
	return rc;
}

Test(config_map, every_type_and_the_defaults)
{
	struct target t;
	struct tm_error err = {0};
	cr_assert_eq(read_text("name: x\n", &t, &err), 0, "%s", err.msg);
	cr_assert_str_eq(t.name, "x");
	cr_assert(t.on);
	cr_assert_eq(t.count, 7);
	cr_assert_eq(t.bytes, 4096);
	cr_assert_eq(t.every, 600);
	cr_assert_eq(t.mode, MODE_B);
	cr_assert_eq(t.in.wait, 30);
	cr_assert_null(t.file);
	cr_assert_eq(t.n_tags, 0);
	tm_conf_release(&top, &t);

	cr_assert_eq(read_text("name: y\nfile: a/b.pem\nowner: svc@example.net\non: false\n"
			       "count: 100\nbytes: 1024\nevery: 1d\nmode: a\ntags: [p, q]\n"
			       "items: [{name: i1}, {name: i2, weight: 9}]\ninner: {wait: 1h}\n",
			       &t, &err), 0, "%s", err.msg);
	cr_assert_str_eq(t.file, "/etc/t/a/b.pem");
	cr_assert_str_eq(t.owner, "svc@example.net");
	cr_assert_not(t.on);
	cr_assert_eq(t.count, 100);
	cr_assert_eq(t.bytes, 1024);
	cr_assert_eq(t.every, 86400);
	cr_assert_eq(t.mode, MODE_A);
	cr_assert_eq(t.n_tags, 2);
	cr_assert_str_eq(t.tags[1], "q");
	cr_assert_eq(t.n_items, 2);
	cr_assert_eq(t.items[0].weight, 1, "an item's defaults apply");
	cr_assert_eq(t.items[1].weight, 9);
	cr_assert_eq(t.in.wait, 3600);
	tm_conf_release(&top, &t);
	cr_assert_null(t.tags);
	cr_assert_null(t.name);
}

struct bad {
	const char *yaml;
	const char *reason;
	const char *msg;
};

static const struct bad bad_cases[] = {
	{ "name: x\ncolour: red\n", "config.unknown_key", "t.yaml:2: colour: unknown key" },
	{ "name: x\ninner: {wiat: 1s}\n", "config.unknown_key", "t.yaml:2: inner.wiat: unknown key" },
	{ "count: 3\n", "config.missing_key", "t.yaml:1: name: missing" },
	{ "name: x\nitems: [{weight: 2}]\n", "config.missing_key", "t.yaml:2: items[0].name: missing" },
	{ "name: 5\n", "config.bad_value", "t.yaml:1: name: must be a string, not integer" },
	{ "name: \"\"\n", "config.bad_value", "t.yaml:1: name: must not be empty" },
	{ "name: abcdefghijklmnopq\n", "config.bad_value", "t.yaml:1: name: longer than 16 bytes" },
	{ "name: \"a\\tb\"\n", "config.bad_value", "t.yaml:1: name: holds a control character" },
	{ "name: x\nowner: nobody\n", "config.bad_value",
	  "t.yaml:2: owner: 'nobody' is not a mailbox (local@domain)" },
	{ "name: x\non: yes\n", "config.bad_value", "t.yaml:2: on: must be true or false, not string" },
	{ "name: x\ncount: 0\n", "config.bad_value", "t.yaml:2: count: 0 is out of range 1..100" },
	{ "name: x\ncount: 101\n", "config.bad_value", "t.yaml:2: count: 101 is out of range 1..100" },
	{ "name: x\ncount: many\n", "config.bad_value", "t.yaml:2: count: must be an integer, not string" },
	{ "name: x\nbytes: 10\n", "config.bad_value", "t.yaml:2: bytes: 10 is out of range 1024..1048576" },
	{ "name: x\nevery: 30s\n", "config.bad_value", "t.yaml:2: every: 30s is out of range 60s..86400s" },
	{ "name: x\nevery: 2d\n", "config.bad_value", "t.yaml:2: every: 2d is out of range 60s..86400s" },
	{ "name: x\nevery: 600\n", "config.bad_value", "t.yaml:2: every: must be a string, not integer" },
	{ "name: x\nevery: soon\n", "config.bad_value",
	  "t.yaml:2: every: 'soon' is not a duration (a number and s, m, h or d: 90s, 10m, 7d)" },
	{ "name: x\nmode: c\n", "config.bad_value", "t.yaml:2: mode: want a or b" },
	{ "name: x\ntags: p\n", "config.bad_value", "t.yaml:2: tags: must be a list, not string" },
	{ "name: x\ntags: []\n", "config.bad_value", "t.yaml:2: tags: 0 entries; want 1 to 3" },
	{ "name: x\ntags: [a, b, c, d]\n", "config.bad_value", "t.yaml:2: tags: 4 entries; want 1 to 3" },
	{ "name: x\nitems: [{name: i, weight: 10}]\n", "config.bad_value",
	  "t.yaml:2: items[0].weight: 10 is out of range 1..9" },
	{ "name: x\ninner: 5\n", "config.bad_value", "t.yaml:2: inner: must be a mapping, not integer" },
	{ "- a\n", "config.bad_value", "t.yaml:1: (top level): must be a mapping, not array" },
};
#define N_BAD (sizeof(bad_cases) / sizeof(bad_cases[0]))
static int bad_index[N_BAD];

ParameterizedTestParameters(config_map, refusals)
{
	for (size_t i = 0; i < N_BAD; i++)
		bad_index[i] = (int)i;
	return cr_make_param_array(int, bad_index, N_BAD);
}

ParameterizedTest(int *ix, config_map, refusals)
{
	const struct bad *b = &bad_cases[*ix];
	struct target t;
	struct tm_error err = {0};
	cr_assert_eq(read_text(b->yaml, &t, &err), -1, "accepted:\n%s", b->yaml);
	cr_assert_str_eq(err.reason, b->reason, "%s", err.msg);
	cr_assert_str_eq(err.msg, b->msg);
	tm_conf_release(&top, &t);
}

Test(config_map, context_flags)
{
	/* the agent's dialect: no file name, null as absent, plain seconds */
	const char *yaml = "name: x\nevery: 120\nfile: ~\n";
	struct tm_node *root = NULL;
	struct tm_error err = {0};
	struct target t = {0};
	cr_assert_eq(tm_yaml_read((const uint8_t *)yaml, strlen(yaml), &TM_YAML_CONFIG_LIMITS, &root,
				  &err), 0);
	struct tm_conf_ctx c = { .flags = TM_CONF_NULL_ABSENT | TM_CONF_INT_SECONDS, .err = &err };
	cr_assert_eq(tm_conf_read(&c, &top, root, "", &t), 0, "%s", err.msg);
	cr_assert_eq(t.every, 120);
	cr_assert_null(t.file);
	tm_conf_release(&top, &t);
	tm_node_free(root);
	yaml = "name: x\nevery: 59\n";
	cr_assert_eq(tm_yaml_read((const uint8_t *)yaml, strlen(yaml), &TM_YAML_CONFIG_LIMITS, &root,
				  &err), 0);
	cr_assert_eq(tm_conf_read(&c, &top, root, "", &t), -1);
	cr_assert_str_eq(err.msg, "line 2: every: 59s is out of range 60s..86400s");
	tm_conf_release(&top, &t);
	tm_node_free(root);
}

Test(config_map, defaults_are_printed_from_the_table)
{
	struct tm_buf b;
	tm_buf_init(&b);
	cr_assert_eq(tm_conf_describe(&top, "", &b), 0);
	cr_assert_eq(tm_buf_append(&b, "", 1), 0);
	const char *s = (const char *)b.data;
	const char *want[] = {
		"name                               string         (required)               1..16 bytes        a name\n",
		"every                              duration       10m                      1m..1d             a period\n",
		"mode                               enum           b                        a|b                a choice\n",
		"items[].weight                     int            1                        1..9               its weight\n",
		"inner.wait                         duration       30s                      1s..1h             how long\n",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_assert_not_null(strstr(s, want[i]), "no line\n%s in\n%s", want[i], s);
	tm_buf_fini(&b);
}
