/* telemail-mailgw — the service sections of the configuration (issue 6):
 * `alerts:` (thresholds, silence, part life), `billing:` (when a boundary
 * reading counts as estimated, the meter rules' stuck time and speed margin,
 * the models file, contract periods per tenant) and `notify:` (e-mail over SMTP, webhook).
 * Every section and key is optional; absent keys take the defaults of the
 * tables (`telemail-mailgw check-config --defaults` prints them). Errors
 * follow config.h: "file:line: key.path: message". */
#ifndef GW_CONFIG_SERVICE_H
#define GW_CONFIG_SERVICE_H

#include <stddef.h>
#include <stdint.h>

struct gw_meter_models;
struct gw_tz;
struct tm_conf_section;
struct tm_error;

#define GW_SERVICE_MAX_THRESHOLDS 64   /* alerts.supply_low entries */
#define GW_SERVICE_MAX_RECIPIENTS 16   /* notify.email.to */
#define GW_SERVICE_MAX_PERIODS 1024    /* billing.periods */

/* A tenant's contract period (billing.periods): the meter-read day of the
 * month and the time zone whose midnight starts it. It holds for the tenant
 * and every descendant that has no entry of its own. */
struct gw_billing_period_rule {
	char *tenant;
	int64_t read_day;                /* 1..28: every month has it */
	char *time_zone;                 /* tz database name */
	struct gw_tz *tz;                /* loaded when read */
};

/* Low threshold of one supply type, optionally one colorant ("type" or
 * "type/colorant"; the most specific entry wins). */
struct gw_supply_threshold {
	char type[32];
	char colorant[64];   /* "" = any colorant */
	unsigned percent;    /* 0..100: low at or below this share of max_capacity */
};

/* How one notification channel retries a delivery that failed: the n-th
 * failed attempt waits backoff * 2^(n-1), at most max_backoff; the
 * notification is given up (`failed`, listed by `notify list --failed`,
 * retried by `notify retry`) after `retries` attempts (0: no limit by
 * count) or once it has been queued for give_up_after (0: no limit by
 * age), whichever comes first. */
struct gw_retry_policy {
	unsigned retries;
	int64_t backoff;
	int64_t max_backoff;
	int64_t give_up_after;
};

struct gw_service_config {
	/* alerts */
	int64_t silence;                 /* default 7d */
	int64_t silence_check_every;     /* alerts.check_every: serve runs the check; default 10m */
	unsigned part_life_percent;      /* default 90 (1..1000) */
	unsigned supply_low_default;     /* default 10 (percent) */
	struct gw_supply_threshold thresholds[GW_SERVICE_MAX_THRESHOLDS];
	size_t n_thresholds;

	/* billing */
	int64_t estimate_after;          /* default 2d: an older boundary reading is `estimated` */
	int64_t stuck_after;             /* default 21d: the same total this long while printing: `stuck` */
	unsigned speed_margin;           /* percent of a model's rated speed too_fast allows; default 150 */
	char *models_file;               /* NULL: GW_MODELS_FILE when present */
	struct gw_billing_period_rule *periods;
	size_t n_periods;
	struct gw_meter_models *models;  /* the models file read (NULL: none) */

	/* notify.email (smtp_host NULL: no e-mail) */
	char *smtp_host;
	unsigned smtp_port;              /* default 25 */
	int starttls;                    /* 1 required (default), 0 off (loopback test sinks only) */
	char *smtp_ca_file;              /* default: the system store */
	char *mail_from;
	char *mail_to[GW_SERVICE_MAX_RECIPIENTS]; /* notify.email.to */
	size_t n_mail_to;
	int64_t smtp_timeout;            /* default 30s */
	unsigned throttle_max;           /* immediate mails per kind per throttle_per; default 5 */
	int64_t throttle_per;            /* default 2h */
	int64_t digest_interval;         /* default 1h: non-critical mails wait for a digest */
	int64_t notify_every;            /* notify.every: serve delivers what is due; default 1m */
	int64_t notify_lease;            /* notify.lease: how long a run holds what it claimed
					  * (several gateways); default 5m */
	struct gw_retry_policy email_retry;   /* default: no count limit, 1m doubling to 10m, 7d */

	/* notify.webhook (webhook_url NULL: no webhook) */
	char *webhook_url;
	char *webhook_secret_file;       /* HMAC-SHA256 key (the file's bytes, trailing newline cut) */
	struct gw_retry_policy webhook_retry; /* default: 5 attempts, 1m doubling to 1d, 7d */
	int64_t webhook_timeout;         /* default 10s */
};

/* The sections' tables (telemail/config_map.h); the configuration's top
 * level (config.c) reads them into its struct gw_service_config. */
extern const struct tm_conf_section gw_conf_alerts, gw_conf_billing, gw_conf_notify;

/* Fill the defaults (those of the tables above). */
void gw_service_config_defaults(struct gw_service_config *s);
/* After reading: load the models file (billing.models_file, else the
 * shipped one when it is there). Errors name the file, line and field. */
int gw_service_config_finish(struct gw_service_config *s, struct tm_error *err);
/* Free what the configuration reader allocated, and s. */
void gw_config_service_free(struct gw_service_config *s);

/* The low threshold (percent) for a supply. */
unsigned gw_service_supply_threshold(const struct gw_service_config *s, const char *type,
				     const char *colorant);

#endif
