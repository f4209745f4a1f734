/* telemail — configuration maps: a configuration section is declared as a
 * table, not hand-parsed (Fluent Bit's config maps are the model).
 *
 * What this module promises:
 * - One reader, tm_conf_read(), takes a table per section (key, type,
 *   default, limits, description, offset of the field in the target struct)
 *   and a YAML mapping (struct tm_node, telemail/node.h) and fills the
 *   struct. Every key of the mapping must be in the table
 *   (config.unknown_key); a key marked TM_CONF_REQUIRED must be there
 *   (config.missing_key); a value of the wrong type, out of its limits or
 *   badly formed is config.bad_value. Keys are read in table order, so the
 *   first fault in table order is the one reported.
 * - Every error reads "FILE:LINE: key.path: what" (or "line LINE: key.path:
 *   what" when the context names no file), where LINE is the value's line
 *   (the enclosing mapping's for a missing key).
 * - tm_conf_defaults() applies the table's defaults; the same text is what
 *   tm_conf_describe() prints, one line per key: key, type, default, limits,
 *   description. A default marked TM_CONF_DEF_DOC is computed by the caller
 *   (a path under state_dir, the host name): the table only documents it.
 * - Strings are 1..max bytes without control characters. Nothing is
 *   printed; out of memory is internal.nomem. */
#ifndef TELEMAIL_CONFIG_MAP_H
#define TELEMAIL_CONFIG_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tm_buf;
struct tm_error;
struct tm_node;

enum tm_conf_type {
	TM_CONF_STRING,   /* char *: 1..max bytes (max 0: 4096) */
	TM_CONF_PATH,     /* char *: a file name (at most TM_CONF_MAX_PATH bytes), made
			     absolute against the context's base directory */
	TM_CONF_ADDRESS,  /* char *: a mailbox local@domain (at most 254 bytes) */
	TM_CONF_BOOL,     /* bool */
	TM_CONF_INT,      /* an integer field of `size` bytes: min..max */
	TM_CONF_SIZE,     /* a byte count (integer) in an unsigned field: min..max */
	TM_CONF_DURATION, /* "90s", "10m", "2h", "7d" → seconds, in an integer field: min..max */
	TM_CONF_ENUM,     /* a name of `choices` → its value, in an int field */
	TM_CONF_LIST,     /* a list of min..max items of type `of` (STRING, PATH, ADDRESS:
			     char *; SECTION: structs of elem_size read with `section`);
			     the items at `offset` (a malloc'd array, or TM_CONF_INLINE),
			     their number in the size_t at count_offset */
	TM_CONF_SECTION,  /* a nested mapping read with `section` into the struct at
			     `offset` (or the one it points to: TM_CONF_POINTER) */
	TM_CONF_CUSTOM,   /* read by `read` (nested lists of mappings of their own shape,
			     ADDRESS:PORT, CIDR lists …) */
};

#define TM_CONF_REQUIRED 0x01u  /* absent: config.missing_key */
#define TM_CONF_DEF_DOC  0x02u  /* `def` documents a default the caller computes */
#define TM_CONF_INLINE   0x04u  /* LIST of strings: a char *[max] array in the struct */
#define TM_CONF_POINTER  0x08u  /* SECTION: the field is a pointer to the struct */
#define TM_CONF_NOCASE   0x10u  /* ENUM: names compare without case */

#define TM_CONF_MAX_PATH 1024
#define TM_CONF_MAX_DURATION (3650LL * 86400)

/* Context flags (struct tm_conf_ctx.flags). */
#define TM_CONF_NULL_ABSENT 0x01u  /* a null value counts as an absent key */
#define TM_CONF_INT_SECONDS 0x02u  /* a duration may also be plain seconds (90, "90") */

struct tm_conf_ctx {
	const char *file;      /* for messages; NULL: "line N: …" */
	const char *base;      /* directory for relative paths (NULL or "": as given) */
	unsigned flags;
	struct tm_error *err;
};

struct tm_conf_choice {
	const char *name;
	int value;
};

struct tm_conf_section;

struct tm_conf_entry {
	const char *key;
	enum tm_conf_type type;
	const char *def;            /* the default as written in the file; NULL: none */
	unsigned flags;
	int64_t min, max;           /* INT, SIZE, DURATION: the range; STRING: max bytes;
				       LIST: min..max items */
	size_t offset, size;        /* the field: offsetof and sizeof */
	const char *desc;           /* one line for --defaults */
	enum tm_conf_type of;       /* LIST: the items' type */
	size_t count_offset;        /* LIST: the size_t count */
	size_t elem_size;           /* LIST of SECTION: one item */
	const struct tm_conf_choice *choices; /* ENUM: ends with a NULL name */
	const char *what;           /* ENUM: after "'VALUE' " when refused; NULL: "want a or b" */
	const struct tm_conf_section *section; /* SECTION, LIST of SECTION */
	/* CUSTOM: n is the value, obj the section's struct. */
	int (*read)(const struct tm_conf_ctx *c, const struct tm_node *n, const char *path,
		    void *obj);
	const char *type_name;      /* CUSTOM: the type column of --defaults */
};

struct tm_conf_section {
	const struct tm_conf_entry *entries;
	size_t n;
	/* Rules across keys, after every key was read (may be NULL); map is the
	 * section's mapping (NULL when the section is absent: not called then). */
	int (*check)(const struct tm_conf_ctx *c, const struct tm_node *map, const char *path,
		     void *obj);
};

/* A section of a static table: TM_CONF_TABLE(entries, check). */
#define TM_CONF_TABLE(entries, check) { (entries), sizeof(entries) / sizeof((entries)[0]), (check) }
/* One entry: TM_CONF_KEY(key, type, default, flags, min, max, field, description, ...)
 * with field TM_CONF_FIELD(struct, member) or TM_CONF_NOFIELD, and after the
 * description any designated fields (.of, .section, .read …). */
#define TM_CONF_FIELD(type, member) .offset = offsetof(type, member), \
	.size = sizeof(((type *)0)->member)
#define TM_CONF_NOFIELD .offset = 0
#define TM_CONF_KEY(k, t, d, f, lo, hi, fld, ...) \
	{ .key = (k), .type = (t), .def = (d), .flags = (f), .min = (lo), .max = (hi), fld, \
	  .desc = __VA_ARGS__ }

/* Read the mapping n (path: "" for the top level) into obj. */
int tm_conf_read(const struct tm_conf_ctx *c, const struct tm_conf_section *s,
		 const struct tm_node *n, const char *path, void *obj);
/* Apply every default of the table (nested sections too, not LIST items). */
int tm_conf_defaults(const struct tm_conf_section *s, void *obj, struct tm_error *err);
/* Free the strings and lists the table owns in obj (not obj, not CUSTOM fields). */
void tm_conf_release(const struct tm_conf_section *s, void *obj);
/* One line per key, "prefix" before each key: key type default limits description. */
int tm_conf_describe(const struct tm_conf_section *s, const char *prefix, struct tm_buf *out);
/* The same lines with the five fields separated by tabs (for the man pages). */
int tm_conf_describe_tsv(const struct tm_conf_section *s, const char *prefix, struct tm_buf *out);

/* For custom readers: "FILE:LINE: path: what" under reason; returns -1. */
int tm_conf_fail(const struct tm_conf_ctx *c, const struct tm_node *at, const char *reason,
		 const char *path, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* A string of 1..max bytes without control characters (replaces *out). */
int tm_conf_string(const struct tm_conf_ctx *c, const struct tm_node *n, const char *path,
		   size_t max, char **out);
/* "90s", "10m", "2h", "7d" → seconds (at most TM_CONF_MAX_DURATION);
 * config.bad_value naming the text. */
int tm_conf_duration(const char *text, int64_t *seconds, struct tm_error *err);

#endif
