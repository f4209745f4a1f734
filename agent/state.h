/* telemail-agent — per-device state: the report sequence number and what the
 * event detector already reported (thresholds crossed, alerts seen, …).
 * One text file per device, <state_dir>/<serial>.state, written durably
 * (fsync, rename, directory fsync). */
#ifndef AG_STATE_H
#define AG_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tm_error;

#define AG_STATE_MAX_LIST 64
#define AG_STATE_MAX_BYTES (64u << 10)
#define AG_SUPPLY_LOW 1
#define AG_SUPPLY_EMPTY 2

#define AG_PART_MAX 64   /* the schema's part_number */

struct ag_state_supply {
	int64_t index;
	int flags;        /* AG_SUPPLY_LOW | AG_SUPPLY_EMPTY: already reported */
	char part[AG_PART_MAX + 1];   /* part_number last seen ("" none): a new one is a replacement */
};

#define AG_STATE_MAX_COUNTERS 16

/* A Counter32 read from a device: its last raw value and how often it
 * wrapped, so the reported total is a 64-bit number that keeps rising. */
struct ag_state_counter {
	char key[48];
	uint32_t last;
	uint32_t wraps;
};

#define AG_SOURCE_MAX 128

struct ag_state {
	char serial[65];
	/* Where the serial was read (SNMP "host:port", a file's path): the
	 * current source, the one before it, and a serial clash (two sources
	 * reporting this serial) that holds its reports back until resolved. */
	char source[AG_SOURCE_MAX], previous[AG_SOURCE_MAX];
	char clash[2][AG_SOURCE_MAX];
	int64_t seq;      /* last sequence number handed out (0: none yet) */
	bool primed;      /* a snapshot was seen before (no events on the first one) */
	struct ag_state_supply supplies[AG_STATE_MAX_LIST];
	size_t n_supplies;
	char *alerts[AG_STATE_MAX_LIST];     /* "code/sub_code/location" */
	size_t n_alerts;
	char *conditions[AG_STATE_MAX_LIST]; /* hrPrinterDetectedErrorState names */
	size_t n_conditions;
	char *parts[AG_STATE_MAX_LIST];      /* parts whose life warning was sent */
	size_t n_parts;
	char *firmware[AG_STATE_MAX_LIST];   /* "component=version" */
	size_t n_firmware;
	char pstate[16];                     /* hrPrinterStatus */
	struct ag_state_counter counters[AG_STATE_MAX_COUNTERS];
	size_t n_counters;
};

void ag_state_init(struct ag_state *st);
void ag_state_fini(struct ag_state *st);
/* A missing file is a fresh state (seq 0). Errors: state.corrupt, io.*,
 * config.invalid (a serial that cannot name a file). */
int ag_state_load(const char *dir, const char *serial, struct ag_state *st, struct tm_error *err);
int ag_state_save(const char *dir, const struct ag_state *st, struct tm_error *err);
/* Hand out the next seq: incremented and saved durably before it is used,
 * so a power cut never reuses a number. */
int ag_state_next_seq(const char *dir, struct ag_state *st, int64_t *seq, struct tm_error *err);
/* The 64-bit total of a Counter32 reading: wraps · 2^32 + raw. A wrap is
 * counted only when `same_source` (read from the source that gave the last
 * value), the last value is in the top tenth of the range and the new one
 * in the bottom tenth; any other drop is a reset the total shows as such
 * (the gateway flags it), never 2^32 more pages. Updates st (save it). */
int64_t ag_state_counter_total(struct ag_state *st, const char *key, uint32_t raw, bool same_source);
/* The serial was read from `source` this cycle. `alone`: no other source
 * reported it this cycle and the other side of a recorded clash is gone
 * (not configured, or it reported another serial). Returns 0 when the
 * reading may be used (*same_source: from the source of the last one), or
 * -1 with collect.serial_clash when it must be held back: another source
 * reported the serial in this cycle (!alone without a clash recorded is
 * the caller's call: see ag_state_clash), it came back from the source it
 * had before the last one (two devices taking turns), or a clash is
 * recorded and not resolved. Updates st (save it). */
int ag_state_source(struct ag_state *st, const char *source, bool alone, bool *same_source,
		    struct tm_error *err);
/* Record a clash between two sources (held back until resolved). */
void ag_state_clash(struct ag_state *st, const char *a, const char *b);
/* List helpers (exact string match). */
bool ag_state_list_has(char *const *list, size_t n, const char *s);
int ag_state_list_add(char **list, size_t *n, const char *s);

#endif
