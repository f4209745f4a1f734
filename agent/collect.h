/* telemail-agent — collectors: device state → struct tm_report (device,
 * status, counters, supplies, parts, alerts, diagnostics; the report
 * section is filled by the report builder). */
#ifndef AG_COLLECT_H
#define AG_COLLECT_H

#include <stddef.h>
#include <stdint.h>

#include <telemail/error.h>

struct tm_report;
struct ag_collector_config;

/* Largest snapshot file accepted (collect.format beyond it). */
#define AG_SNAPSHOT_MAX_BYTES (256u << 10)

/* SNMP limits (docs/snmp.md): devices queried at the same time, requests
 * and variables per device, and the per-device deadline as a multiple of
 * one request's timeout × (retries + 1). */
#define AG_SNMP_INFLIGHT 64
#define AG_SNMP_MAX_REQUESTS 200
#define AG_SNMP_MAX_VARBINDS 3000
#define AG_SNMP_DEADLINE_FACTOR 4

#define AG_MAX_RAW_COUNTERS 4

/* A Counter32 as read from the device. The agent turns it into a 64-bit
 * total with the per-device state (last raw value, wrap count) and writes
 * the total to *dst (a field of the collected report). */
struct ag_raw_counter {
	char key[48];
	uint32_t raw;
	int64_t *dst;
};

/* The result of collecting one device. */
struct ag_collected {
	struct tm_report *r;          /* NULL when collection failed: err says why */
	struct tm_error err;
	struct ag_raw_counter raw[AG_MAX_RAW_COUNTERS];
	size_t n_raw;
	/* SNMP: datagrams that were not the answer to the request in flight (a
	 * trap, an echo, another request-id, address, port or community) and
	 * were dropped; the last one's reason. */
	unsigned dropped;
	char dropped_why[64];
};

void ag_collected_fini(struct ag_collected *c);

/* The `file` collector: a YAML device-state snapshot (docs/device-state.md).
 * Errors: collect.unavailable (file missing or unreadable), collect.format
 * (not YAML, unknown section, breaks the report schema; the message names
 * the line or path and the schema rule). */
int ag_collect_file(const char *path, struct tm_report **out, struct tm_error *err);
int ag_snapshot_parse(const uint8_t *buf, size_t len, struct tm_report **out,
		      struct tm_error *err);

/* The `snmp` collector (Printer-MIB, Host Resources MIB, SNMPv2-MIB; see
 * docs/snmp.md): the devices ks[idx[0..n-1]] are queried concurrently, at
 * most AG_SNMP_INFLIGHT at a time, each within its own deadline; out[j]
 * gets the result for ks[idx[j]]. Errors per device: collect.unavailable
 * (no answer at all within the timeout), collect.snmp (session setup, an
 * error status, a timeout in the middle, a limit), collect.format (the
 * device has no usable serial and none is configured). */
void ag_collect_snmp_many(const struct ag_collector_config *ks, const size_t *idx, size_t n,
			  struct ag_collected *out);

/* Collect every collector (file ones in turn, SNMP ones concurrently);
 * out[i] belongs to ks[i]. A configured serial fills in a missing one. */
void ag_collect_many(const struct ag_collector_config *ks, size_t n, struct ag_collected *out);

/* One collector. */
int ag_collect(const struct ag_collector_config *k, struct ag_collected *out, struct tm_error *err);

/* OCTET STRING bytes → text: the bytes themselves (trailing NULs dropped)
 * when they are valid UTF-8 without control characters, else lower-case hex.
 * Returns a malloc'd string (NULL: out of memory). */
char *ag_snmp_text(const uint8_t *p, size_t n);

#endif
