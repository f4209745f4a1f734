/* telemail-agent — collectors: device state → struct tm_report (device,
 * status, counters, supplies, parts, alerts, diagnostics; the report
 * section is filled by the report builder). */
#ifndef AG_COLLECT_H
#define AG_COLLECT_H

#include <stddef.h>
#include <stdint.h>

struct tm_error;
struct tm_report;
struct ag_collector_config;

/* Largest snapshot file accepted (collect.format beyond it). */
#define AG_SNAPSHOT_MAX_BYTES (256u << 10)

/* The `file` collector: a YAML device-state snapshot (docs/device-state.md).
 * Errors: collect.unavailable (file missing or unreadable), collect.format
 * (not YAML, unknown section, breaks the report schema; the message names
 * the line or path and the schema rule). */
int ag_collect_file(const char *path, struct tm_report **out, struct tm_error *err);
int ag_snapshot_parse(const uint8_t *buf, size_t len, struct tm_report **out,
		      struct tm_error *err);

/* The `snmp` collector (Printer-MIB, Host Resources MIB, SNMPv2-MIB). */
int ag_collect_snmp(const struct ag_collector_config *k, struct tm_report **out,
		    struct tm_error *err);

/* Run the configured collector. */
int ag_collect(const struct ag_collector_config *k, struct tm_report **out, struct tm_error *err);

#endif
