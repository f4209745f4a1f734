/* telemail — the members of the report's structs that are read from and
 * written to YAML maps field by field (internal to report.c and
 * report_write.c): one table per struct, in the order of the schema, so
 * that reading and writing name each field once. */
#ifndef TM_PARSER_REPORT_FIELDS_H
#define TM_PARSER_REPORT_FIELDS_H

#include <stdbool.h>
#include <stddef.h>

/* A string (char *, NULL when absent) or an integer (int64_t, TM_UNSET when
 * absent) member at `off`. */
struct tm_report_field {
	const char *key;
	bool is_int;
	bool required;
	size_t off;
};

struct tm_report_fields {
	const struct tm_report_field *f;
	size_t n;
	size_t size;   /* of the struct */
};

extern const struct tm_report_fields tm_counter_set_fields;  /* struct tm_counter_set */
extern const struct tm_report_fields tm_vendor_fields;       /* struct tm_vendor_counter */
extern const struct tm_report_fields tm_supply_fields;       /* struct tm_supply */
extern const struct tm_report_fields tm_part_fields;         /* struct tm_part */
extern const struct tm_report_fields tm_alert_fields;        /* struct tm_alert */
extern const struct tm_report_fields tm_unreachable_fields;  /* struct tm_unreachable */

#endif
