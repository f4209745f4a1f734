/* telemail-mailgw — the gateway configuration (YAML, see examples/mailgw.yaml).
 *
 * Read with libtelemail's tree reader (TM_YAML_CONFIG_LIMITS), then by the
 * shared configuration reader (telemail/config_map.h) from one table per
 * section: key, type, default, limits, description. Every error names the file, the line and the key path:
 *   "mailgw.yaml:12: gateway.keys[1].cert: missing"
 * with the reason codes config.syntax (not YAML), config.unknown_key,
 * config.missing_key and config.bad_value (type, format, range). Relative
 * paths are resolved against the configuration file's directory. */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tm_buf;
struct tm_error;
struct gw_service_config;
struct gw_listen_config;
struct gw_forward_config;
struct gw_web_config;

/* Limits (config.bad_value when exceeded). */
#define GW_CONFIG_MAX_MAILBOXES 64
#define GW_CONFIG_MAX_KEYS 16
#define GW_CONFIG_MAX_BATCH 10000
#define GW_CONFIG_MAX_WORKERS 256
#define GW_CONFIG_MAX_SKEW (7 * 86400)           /* max_future_skew */
#define GW_CONFIG_MAX_BUSY_TIMEOUT 600           /* store.busy_timeout, seconds */
#define GW_CONFIG_MAX_RETENTION 1200             /* store.retention, months (= GW_RETENTION_MAX_MONTHS) */
#define GW_CONFIG_MAX_DURATION (3650LL * 86400)  /* any duration (TM_CONF_MAX_DURATION) */
#define GW_CONFIG_MAX_PATH 1024

struct gw_config_key {
	char *cert;   /* PEM certificate (absolute path) */
	char *key;    /* PEM private key (absolute path) */
};

struct gw_config {
	char *file;                 /* the file as named by the caller */
	char *state_dir;            /* default /var/lib/telemail */
	char **mailboxes;           /* gateway.mailboxes (>= 1) */
	size_t n_mailboxes;
	struct gw_config_key *keys; /* gateway.keys (>= 1; several for key rotation) */
	size_t n_keys;
	char *ca_file;              /* trust.ca_file */
	char *crl_file;             /* trust.crl_file; NULL when absent */
	int64_t max_message_age;    /* trust.max_message_age, seconds; default 30 days: a
				       signing time older than the arrival by more is refused */
	bool allow_cbc;             /* default false */
	int64_t max_future_skew;    /* seconds; default 600 ("10m"); also how far generated_at
				       and the signing time may differ */
	char *auto_enroll_tenant;   /* auto_enroll.tenant; NULL when off */
	char *store_backend;        /* "sqlite" or "postgresql" */
	char *store_path;           /* default <state_dir>/telemail.db (sqlite) */
	char *store_conninfo;       /* postgresql: libpq conninfo, no password; NULL for sqlite */
	char *store_password_file;  /* postgresql: the password's file; NULL: none */
	unsigned batch_size;        /* default 64 */
	int64_t store_busy_timeout; /* seconds; default 5 */
	char *store_retention;      /* "off" (default) or "N months" */
	int store_retention_months; /* from it; 0: off (store/retention.h) */
	unsigned workers;           /* 0: one per core */
	char *quarantine_dir;       /* default <state_dir>/quarantine */
	struct gw_service_config *service; /* alerts:, billing:, notify: (config_service.h) */
	struct gw_listen_config *listen;   /* listen:, spool: (config_listen.h); never NULL */
	struct gw_forward_config *forward; /* forward: (config_forward.h); NULL: no forwarding */
	struct gw_web_config *web;         /* web:, metrics: (config_web.h); NULL: no web: */
};

/* Read and check a file. */
int gw_config_load(const char *path, struct gw_config **out, struct tm_error *err);
/* The same from bytes: `name` is used in messages, `base_dir` resolves
 * relative paths (NULL: the current directory). */
int gw_config_parse(const uint8_t *buf, size_t len, const char *name, const char *base_dir,
		    struct gw_config **out, struct tm_error *err);
void gw_config_free(struct gw_config *c);

/* Every key with its type, default, limits and description, one per line
 * (`telemail-mailgw check-config --defaults`). */
int gw_config_describe(struct tm_buf *out, bool tsv);

/* The YAML reader's error (tm_yaml_read: "line L, column C: what") as
 * config.syntax naming the file: "FILE:L: column C: what". Returns -1. */
int gw_config_syntax_error(const char *file, const struct tm_error *yaml_err,
			   struct tm_error *err);

/* "90s", "10m", "2h", "7d" → seconds (a non-negative integer and one unit,
 * at most GW_CONFIG_MAX_DURATION). Also for command-line options such as
 * `quarantine purge --older-than 30d`. config.bad_value naming the text. */
int gw_config_duration(const char *text, int64_t *seconds, struct tm_error *err);

#endif
