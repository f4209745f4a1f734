/* telemail — internal: the compiled form of a JSON Schema, shared by
 * parser/report/schema_load.c (YAML tree → struct sch) and parser/report/schema.c
 * (validation). Nothing here is part of the public API. */
#ifndef TM_PARSER_SCHEMA_INT_H
#define TM_PARSER_SCHEMA_INT_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tm_node;

/* Instance nesting the validator follows (report.too_deep beyond it). */
#define TM_SCHEMA_MAX_INSTANCE_DEPTH 64
/* Nested schema evaluations at once ($ref chains, applicators); beyond it the
 * schema is taken to loop (schema.invalid). */
#define TM_SCHEMA_MAX_EVALS 512
/* A schema file is at most this large (io.too_large). */
#define TM_SCHEMA_MAX_FILE (1u << 20)

enum {
	TM_T_NULL = 1 << 0,
	TM_T_BOOLEAN = 1 << 1,
	TM_T_INTEGER = 1 << 2,
	TM_T_NUMBER = 1 << 3,
	TM_T_STRING = 1 << 4,
	TM_T_ARRAY = 1 << 5,
	TM_T_OBJECT = 1 << 6,
};

struct sch;

struct sch_prop {
	const char *name;   /* borrowed from the schema tree */
	size_t len;
	struct sch *s;
};

/* An anchored run of character sets, "^[a-z][a-z0-9_.]*$" and the like,
 * matched without a regex engine (schema_pattern.c). */
#define SCH_SIMPLE_MAX 24
struct sch_simple_item {
	uint8_t set[32];                 /* ASCII bitmap */
	uint32_t min, max;               /* max UINT32_MAX: unbounded */
};
struct sch_simple {
	size_t n;
	struct sch_simple_item items[SCH_SIMPLE_MAX];
};
/* true when pattern has that form and a greedy scan decides it exactly. */
bool tm_sch_simple_compile(const char *pattern, struct sch_simple *out);
/* The verdict regexec would give on the C string s. */
bool tm_sch_simple_match(const struct sch_simple *r, const char *s);

/* One compiled (sub)schema. Node pointers borrow from tm_schema.tree. */
struct sch {
	int boolean;                     /* -1 an object schema; 0 false; 1 true */
	struct sch *ref;                 /* $ref target, or NULL */
	unsigned types;                  /* TM_T_* bits; 0 when no "type" */
	const char *type_names[7];       /* as written, for messages */
	size_t n_type_names;
	const struct tm_node *const_value;
	const struct tm_node *enum_values;  /* a sequence */
	struct sch_prop *props;
	size_t n_props;
	const struct tm_node **required; /* strings */
	size_t n_required;
	struct sch *additional;          /* additionalProperties */
	struct sch *property_names;
	int64_t min_properties, max_properties;  /* -1 when absent */
	struct sch *items;
	int64_t min_items, max_items;
	bool unique;
	const struct tm_node *minimum, *maximum, *xminimum, *xmaximum;
	int64_t min_length, max_length;
	const char *pattern;             /* NULL when absent; re compiled from it */
	regex_t re;
	struct sch_simple *simple;       /* the same pattern without regexec, or NULL */
	struct sch *not_;
	struct sch **any_of, **all_of, **one_of;
	size_t n_any_of, n_all_of, n_one_of;
};

struct sch_def {
	const char *name;
	struct sch *s;
};

struct tm_schema {
	struct tm_node *tree;            /* the schema document, kept for enum/const values */
	struct sch *root;
	struct sch_def *defs;
	size_t n_defs;
	struct sch **all;                /* every struct sch, for freeing */
	size_t n_all, cap_all;
	bool has_pii;                    /* x-telemail-pii-names at the root */
	regex_t pii;
	/* Every property name the schema defines, sorted, with its PII verdict
	 * worked out once at load: the regex then runs only for names the
	 * schema does not know (e.g. diagnostics keys). */
	struct sch_known {
		const char *name;
		size_t len;
		bool pii;
	} *known;
	size_t n_known;
	bool n_known_ready;              /* the verdicts are filled in */
};

/* PII verdict for a field name: 1 personal data, 0 not, -1 no memory. */
int tm_schema_pii_name(const struct tm_schema *s, const char *key, size_t len);

/* A path as a chain of segments up to the root (instance or schema). */
struct tm_seg {
	const struct tm_seg *up;
	const char *key;                 /* NULL: an array index */
	size_t idx;
};

/* "(root)" / "a/0/b" for instance paths, "#/a/b" for schema paths. */
void tm_seg_format(const struct tm_seg *s, bool schema_path, char *out, size_t cap);
void tm_schema_value_text(const struct tm_node *n, char *out, size_t cap);
bool tm_schema_float_is_integer(double f);
int tm_schema_num_cmp(const struct tm_node *a, const struct tm_node *b);
int tm_schema_json_equal(const struct tm_node *a, const struct tm_node *b, unsigned depth);

#endif
