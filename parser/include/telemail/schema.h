/* telemail — JSON Schema 2020-12 validation of a document tree.
 *
 * Driven by the schema file (schemas/telemail-report-v1.yaml, compiled in at
 * build time), not by per-field code. Supported keywords: $schema $id $defs
 * $ref (local "#/$defs/..." only) $comment title description type enum const
 * properties required additionalProperties propertyNames minProperties
 * maxProperties items minItems maxItems uniqueItems minimum maximum
 * exclusiveMinimum exclusiveMaximum minLength maxLength pattern not anyOf
 * allOf oneOf format (annotation only) and x-* annotations. Loading a schema
 * that uses any other keyword fails (schema.unsupported): nothing is ignored
 * silently.
 *
 * Errors name the instance path and the rule, e.g.
 *   "supplies/2/level: must be >= -3"
 * with these reason codes:
 *   report.pii_field      a property name matches x-telemail-pii-names
 *   report.unknown_field  additionalProperties: false
 *   report.missing_field  required
 *   report.wrong_type     type
 *   report.schema         any other rule (enum, pattern, minimum, maxItems ...) */
#ifndef TELEMAIL_SCHEMA_H
#define TELEMAIL_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

struct tm_error;
struct tm_node;
struct tm_schema;

/* The compiled-in report schema v1 (loaded once, shared, never freed by the caller). */
int tm_schema_report_v1(const struct tm_schema **out, struct tm_error *err);

/* Load a schema from YAML/JSON text or a file. */
int tm_schema_load(const uint8_t *buf, size_t len, struct tm_schema **out, struct tm_error *err);
int tm_schema_load_file(const char *path, struct tm_schema **out, struct tm_error *err);
void tm_schema_free(struct tm_schema *s);

/* Validate; the first violation found (in document order) is reported. */
int tm_schema_validate(const struct tm_schema *s, const struct tm_node *instance,
		       struct tm_error *err);

#endif
