/* telemail-agent — configuration (YAML, see examples/agent.yaml). */
#ifndef AG_CONFIG_H
#define AG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tm_buf;
struct tm_error;

#define AG_MAX_RELAYS 5
#define AG_MAX_GW_CERTS 8
#define AG_MAX_THRESHOLDS 32
#define AG_MAX_COLLECTORS 1024

enum ag_role { AG_ROLE_DEVICE, AG_ROLE_COLLECTOR };
enum ag_tls { AG_TLS_REQUIRED, AG_TLS_NONE };
enum ag_auth { AG_AUTH_NONE, AG_AUTH_PLAIN, AG_AUTH_LOGIN };
enum ag_collector_type { AG_COLLECT_FILE, AG_COLLECT_SNMP };

struct ag_relay {
	char *host;
	int port;            /* 0: smtp.port */
};

struct ag_smtp_config {
	struct ag_relay relays[AG_MAX_RELAYS];
	size_t n_relays;
	int port;                 /* default 25 */
	bool starttls, plain;     /* as given (default true, false) */
	enum ag_tls tls;          /* required unless plain: true (closed segment opt-in) */
	char *ca_file;            /* required with TLS */
	enum ag_auth auth;
	char *username;
	char *password_file;
	int timeout;              /* seconds per protocol step */
	char *envelope_sender;    /* default: identity.mailbox */
	char *helo;               /* default: gethostname */
	int64_t retry_initial;    /* seconds, backoff base */
	int64_t retry_max;        /* seconds, backoff cap */
	size_t max_reply_bytes;   /* bytes read from one relay in one session */
	size_t batch;             /* messages per session */
};

struct ag_threshold {
	char *match;              /* supply type or colorant, e.g. "black", "toner" */
	int percent;
};

struct ag_collector_config {
	enum ag_collector_type type;
	char *path;               /* file: the snapshot */
	/* snmp */
	char *host;
	int port;
	int version;              /* 2 (v2c) or 3 */
	char *community;
	char *user;
	char *auth_protocol;      /* SHA, SHA-256 … */
	char *auth_password_file;
	char *priv_protocol;      /* AES */
	char *priv_password_file;
	int timeout_ms;
	int retries;
	char *serial;             /* override / fallback device serial */
};

struct ag_config {
	char *path;               /* the file read */
	enum ag_role role;
	char *cert, *key, *chain; /* identity */
	char *mailbox;            /* From: */
	char *gw_mailbox;         /* To: */
	char *gw_certs[AG_MAX_GW_CERTS];
	size_t n_gw_certs;
	bool detached;            /* multipart/signed instead of opaque signed-data */
	struct ag_smtp_config smtp;
	/* schedule (seconds) */
	int64_t every_counters, every_heartbeat, every_supply_check, jitter;
	bool events;
	/* thresholds */
	int supply_low;           /* default percent */
	struct ag_threshold supply_low_by[AG_MAX_THRESHOLDS];
	size_t n_supply_low_by;
	int hysteresis;           /* percent points above the threshold to re-arm */
	int part_life_warning;    /* percent of rated life */
	/* outbox */
	char *outbox_dir;
	size_t outbox_max_count;      /* default: three days of scheduled reports, at least 1000 */
	uint64_t outbox_max_bytes;     /* default: as many reports of AG_OUTBOX_REPORT_BYTES, at least 64 MiB */
	bool outbox_count_set, outbox_bytes_set;   /* given in the file */
	char *state_dir;
	struct ag_collector_config *collectors;
	size_t n_collectors;
};

/* Read and check a configuration file. Relative paths inside are taken
 * relative to the file's directory. Errors: config.invalid / config.missing
 * (with the line and the key path), io.*, report.* (YAML syntax). */
int ag_config_load(const char *path, struct ag_config **out, struct tm_error *err);
/* Same, from bytes; base_dir resolves relative paths. */
int ag_config_parse(const uint8_t *buf, size_t len, const char *base_dir,
		    struct ag_config **out, struct tm_error *err);
void ag_config_free(struct ag_config *c);
/* Every key with its type, default, limits and description, one per line
 * (`telemail-agent check-config --defaults`). */
int ag_config_describe(struct tm_buf *out, bool tsv);
/* The outbox a collector needs by default: AG_OUTBOX_HOLD_SECONDS of
 * scheduled reports (counters and heartbeats) for every configured device,
 * so that the relay may be down that long without a report dropped. */
#define AG_OUTBOX_HOLD_SECONDS (3 * 86400)
#define AG_OUTBOX_REPORT_BYTES 8192u   /* a sealed report, with room */
uint64_t ag_config_outbox_need(const struct ag_config *c);
/* 1 and a message in buf when the outbox holds less than that (check-config warns). */
int ag_config_outbox_warning(const struct ag_config *c, char *buf, size_t cap);
/* Supply-low threshold for a supply (by colorant first, then type). */
int ag_config_supply_low(const struct ag_config *c, const char *type, const char *colorant);

#endif
