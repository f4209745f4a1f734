/* telemail — a generic document tree (what a YAML document holds), read with
 * hard limits. The report codec, the schema validator and the configuration
 * loaders all work on this tree; only parser/report/yaml_read.c knows libyaml.
 *
 * Scalars are typed by the YAML 1.2 core schema: plain `null`, `~` or empty
 * → null; `true`/`false` → bool; decimal integers → int (out of int64 range
 * is an error); decimal floats → float; everything else and every quoted
 * scalar → string. Anchors, aliases, explicit tags, merge keys, duplicate
 * mapping keys, non-scalar keys, several documents, and invalid UTF-8 or NUL
 * bytes are rejected, never expanded. */
#ifndef TELEMAIL_NODE_H
#define TELEMAIL_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tm_error;

enum tm_node_type {
	TM_NODE_NULL,
	TM_NODE_BOOL,
	TM_NODE_INT,
	TM_NODE_FLOAT,
	TM_NODE_STRING,
	TM_NODE_SEQ,
	TM_NODE_MAP,
};

struct tm_node;

struct tm_node_pair {
	char *key;       /* NUL-terminated, valid UTF-8 */
	size_t key_len;
	struct tm_node *value;
};

struct tm_node {
	enum tm_node_type type;
	unsigned line;   /* 1-based position in the source, 0 when built in memory */
	unsigned col;
	union {
		bool b;
		int64_t i;
		double f;
		struct {
			char *s;   /* NUL-terminated, valid UTF-8, no NUL inside */
			size_t len;
		} str;
		struct {
			struct tm_node **items;
			size_t n;
		} seq;
		struct {
			struct tm_node_pair *pairs; /* in document order */
			size_t n;
		} map;
	} u;
};

/* Limits applied while reading; a limit that trips is an error with its own
 * reason code, never a truncation. */
struct tm_yaml_limits {
	size_t max_bytes;       /* whole document                 (report.too_large)      */
	unsigned max_depth;     /* nesting of collections         (report.too_deep)       */
	size_t max_nodes;       /* all nodes                      (report.too_many_nodes) */
	size_t max_string;      /* bytes in one scalar or key     (report.string_too_long) */
	size_t max_items;       /* entries in one seq or map      (report.list_too_long)  */
};

/* Report defaults: 256 KiB, depth 12, 20000 nodes, 4096-byte strings, 1024 items. */
extern const struct tm_yaml_limits TM_YAML_REPORT_LIMITS;
/* Configuration files: 1 MiB, depth 16, 100000 nodes, 4096-byte strings, 10000 items. */
extern const struct tm_yaml_limits TM_YAML_CONFIG_LIMITS;

/* Parse one YAML document into a tree. On error *out is NULL and err names
 * line and column ("line 3, column 5: ..."). */
int tm_yaml_read(const uint8_t *buf, size_t len, const struct tm_yaml_limits *lim,
		 struct tm_node **out, struct tm_error *err);

void tm_node_free(struct tm_node *n);

/* Lookups (borrowed pointers, NULL when absent or not a map). */
const struct tm_node *tm_node_get(const struct tm_node *map, const char *key);
const char *tm_node_type_name(enum tm_node_type t);

#endif
