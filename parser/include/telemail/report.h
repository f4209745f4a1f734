/* telemail — the report model (schema v1) as C structs, read and written as YAML.
 *
 * Absent optional values: strings are NULL, integers are TM_UNSET. Arrays
 * carry their count. Every string is owned by the report (tm_report_free
 * frees all). Field meanings are in schemas/telemail-report-v1.yaml. */
#ifndef TELEMAIL_REPORT_H
#define TELEMAIL_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tm_buf;
struct tm_error;
struct tm_node;
struct tm_schema;

#define TM_UNSET INT64_MIN
#define TM_SCHEMA_VERSION 1

/* RFC 3805 supply level / capacity sentinels. */
#define TM_LEVEL_OTHER (-1)          /* no restriction */
#define TM_LEVEL_UNKNOWN (-2)
#define TM_LEVEL_SOME_REMAINING (-3)

enum tm_report_kind { TM_KIND_PERIODIC, TM_KIND_EVENT, TM_KIND_STATUS, TM_KIND_TEST };

struct tm_firmware {
	char *component;
	char *version;
};

/* PWG 5106.1 counters for one service; TM_UNSET where not reported. */
struct tm_counter_set {
	int64_t impressions;
	int64_t impressions_monochrome;
	int64_t impressions_full_color;
	int64_t impressions_two_sided;
	int64_t sheets;
	int64_t sheets_two_sided;
	int64_t images;
};

enum tm_counter_service {
	TM_SVC_TOTAL, TM_SVC_PRINT, TM_SVC_COPY, TM_SVC_SCAN, TM_SVC_FAX, TM_SVC_COUNT
};

struct tm_vendor_counter {
	char *id;
	char *name;   /* may be NULL */
	char *unit;   /* impressions | sheets | images | count, may be NULL */
	int64_t value;
};

struct tm_supply {
	int64_t index;
	char *type;          /* PrtMarkerSuppliesTypeTC name */
	char *colorant;      /* may be NULL */
	char *description;   /* may be NULL */
	char *unit;          /* PrtMarkerSuppliesSupplyUnitTC name, may be NULL */
	int64_t max_capacity;/* TM_UNSET, -1, -2 or >= 0 */
	int64_t level;       /* -1, -2, -3 or >= 0 */
	char *part_number;   /* may be NULL */
};

struct tm_part {
	char *name;
	int64_t used;
	int64_t rated_life;  /* TM_UNSET when unknown */
	char *unit;          /* may be NULL */
};

struct tm_alert {
	char *code;
	char *sub_code;      /* may be NULL */
	char *severity;      /* critical | warning | info */
	char *group;         /* may be NULL */
	int64_t location;    /* TM_UNSET when absent */
	char *description;   /* may be NULL */
	char *time;          /* RFC 3339 as received, may be NULL */
	int64_t counter;     /* TM_UNSET when absent */
};

enum tm_diag_type { TM_DIAG_STRING, TM_DIAG_INT, TM_DIAG_FLOAT, TM_DIAG_BOOL };

struct tm_diag {
	char *name;
	enum tm_diag_type type;
	char *s;     /* TM_DIAG_STRING */
	int64_t i;   /* TM_DIAG_INT */
	double f;    /* TM_DIAG_FLOAT (finite) */
	bool b;      /* TM_DIAG_BOOL */
};

/* One device an agent with the collector role could not read. */
struct tm_unreachable {
	char *address;   /* host:port (SNMP) or the snapshot's path */
	char *serial;    /* may be NULL: not known */
	char *reason;    /* reason code, e.g. collect.unavailable */
	char *since;     /* RFC 3339 UTC: failing since */
	char *detail;    /* may be NULL */
};

/* Longest list of unreachable devices one report carries. */
#define TM_UNREACHABLE_MAX 128

struct tm_report {
	/* report */
	char *id;             /* UUID */
	int64_t seq;
	enum tm_report_kind kind;
	char *generated_at;   /* RFC 3339 UTC as received */
	char *agent;
	char *trigger_cause;  /* NULL when no trigger */
	char *trigger_subject;/* may be NULL */
	int64_t outbox_gap;   /* TM_UNSET when absent */

	/* device */
	char *serial;
	char *manufacturer, *model, *name, *location, *ip, *mac; /* each may be NULL */
	struct tm_firmware *firmware;
	size_t n_firmware;

	/* status (has_status false: no status section) */
	bool has_status;
	char *state;          /* hrPrinterStatus name */
	char **conditions;    /* hrPrinterDetectedErrorState names */
	size_t n_conditions;
	char *status_since;   /* may be NULL */

	/* counters (has_counters false: no counters section) */
	bool has_counters;
	bool has_service[TM_SVC_COUNT];
	struct tm_counter_set service[TM_SVC_COUNT];
	struct tm_vendor_counter *vendor;
	size_t n_vendor;

	/* lists: has_* false means the key was absent (an empty list is written as []) */
	bool has_supplies, has_parts, has_alerts, has_diagnostics;
	struct tm_supply *supplies;
	size_t n_supplies;
	struct tm_part *parts;
	size_t n_parts;
	struct tm_alert *alerts;
	size_t n_alerts;
	struct tm_diag *diagnostics; /* in document order */
	size_t n_diagnostics;
	/* collector (has_collector false: no collector section) */
	bool has_collector;
	int64_t collector_devices;
	int64_t unreachable_count;
	struct tm_unreachable *unreachable;  /* at most TM_UNREACHABLE_MAX */
	size_t n_unreachable;
};

const char *tm_report_kind_name(enum tm_report_kind k);
int tm_report_kind_parse(const char *s, enum tm_report_kind *out);
const char *tm_counter_service_name(enum tm_counter_service s);

/* A zeroed report with every integer TM_UNSET (seq/index too). */
struct tm_report *tm_report_new(void);
void tm_report_free(struct tm_report *r);
void tm_counter_set_init(struct tm_counter_set *c);   /* all TM_UNSET */

/* Build the model from a tree that already passed schema validation.
 * (Structural surprises still give report.wrong_type, never a crash.) */
int tm_report_from_node(const struct tm_node *root, struct tm_report **out,
			struct tm_error *err);

/* Rules of the wire contract that JSON Schema cannot express, checked after
 * the schema (report.semantics): every timestamp is a real calendar time,
 * and device/firmware names each component once. */
int tm_report_check(const struct tm_report *r, struct tm_error *err);

/* YAML bytes → tree (TM_YAML_REPORT_LIMITS) → schema v1 → model → tm_report_check.
 * `schema` NULL means the compiled-in v1 schema. */
int tm_report_read(const uint8_t *buf, size_t len, const struct tm_schema *schema,
		   struct tm_report **out, struct tm_error *err);

/* Deterministic YAML: fixed key order (the schema's), strings double-quoted,
 * LF line ends, "---" header, trailing newline. write(read(write(r))) ==
 * write(r), byte for byte. Appends to `out`. */
int tm_report_write_yaml(const struct tm_report *r, struct tm_buf *out, struct tm_error *err);

/* Deep equality of two models (for tests and the round-trip property). */
bool tm_report_equal(const struct tm_report *a, const struct tm_report *b);

#endif
