/* telemail-mailgw — `alerts:`, `billing:` and `notify:` of the configuration. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <telemail/config_map.h>
#include <telemail/error.h>
#include <telemail/node.h>

#include "config/config_service.h"
#include "config/meter_models.h"
#include "config/tzfile.h"

#ifndef GW_MODELS_FILE
#define GW_MODELS_FILE "/usr/share/telemail/models.yaml"
#endif

#define SVC(member) TM_CONF_FIELD(struct gw_service_config, member)
#define MAXD TM_CONF_MAX_DURATION

/* ---- alerts ---- */

/* alerts.supply_low: a mapping of supply type (or type/colorant) to a percent. */
static int read_thresholds(const struct tm_conf_ctx *c, const struct tm_node *n, const char *at,
			   void *obj)
{
	struct gw_service_config *s = obj;
	if (n->type != TM_NODE_MAP)
		return tm_conf_fail(c, n, "config.bad_value", at, "must be a mapping, not %s",
				    tm_node_type_name(n->type));
	if (n->u.map.n > GW_SERVICE_MAX_THRESHOLDS)
		return tm_conf_fail(c, n, "config.bad_value", at, "more than %d entries",
				    GW_SERVICE_MAX_THRESHOLDS);
	for (size_t i = 0; i < n->u.map.n; i++) {
		const char *key = n->u.map.pairs[i].key;
		const struct tm_node *v = n->u.map.pairs[i].value;
		char path[160];
		snprintf(path, sizeof(path), "%s.%.100s", at, key);
		if (v->type != TM_NODE_INT)
			return tm_conf_fail(c, v, "config.bad_value", path, "must be an integer, not %s",
					    tm_node_type_name(v->type));
		if (v->u.i < 0 || v->u.i > 100)
			return tm_conf_fail(c, v, "config.bad_value", path,
					    "%lld is out of range 0..100", (long long)v->u.i);
		unsigned pct = (unsigned)v->u.i;
		if (strcmp(key, "default") == 0) {
			s->supply_low_default = pct;
			continue;
		}
		struct gw_supply_threshold *t = &s->thresholds[s->n_thresholds];
		const char *slash = strchr(key, '/');
		size_t tl = slash != NULL ? (size_t)(slash - key) : strlen(key);
		if (tl == 0 || tl >= sizeof(t->type) ||
		    (slash != NULL &&
		    (slash[1] == '\0' || strlen(slash + 1) >= sizeof(t->colorant))))
			return tm_conf_fail(c, v, "config.bad_value", path,
					    "want a supply type or type/colorant (e.g. toner/black)");
		memcpy(t->type, key, tl);
		t->type[tl] = '\0';
		snprintf(t->colorant, sizeof(t->colorant), "%s", slash != NULL ? slash + 1 : "");
		t->percent = pct;
		s->n_thresholds++;
	}
	return 0;
}

static const struct tm_conf_entry alerts_keys[] = {
	TM_CONF_KEY("silence", TM_CONF_DURATION, "7d", 0, 60, MAXD, SVC(silence),
	  "a device or collector silent this long is flagged (device_silent, collector_silent)"),
	TM_CONF_KEY("check_every", TM_CONF_DURATION, "10m", 0, 1, MAXD, SVC(silence_check_every),
	  "serve runs the silence check this often"),
	TM_CONF_KEY("part_life_percent", TM_CONF_INT, "90", 0, 1, 1000, SVC(part_life_percent),
	  "a part is due at this share of its rated life"),
	TM_CONF_KEY("supply_low", TM_CONF_CUSTOM, "default: 10", 0, 0, 0, TM_CONF_NOFIELD,
	  "percent per supply type or type/colorant (toner/black: 5); default: for the rest",
	  .read = read_thresholds, .type_name = "map(percent)"),
};
const struct tm_conf_section gw_conf_alerts = TM_CONF_TABLE(alerts_keys, NULL);

/* ---- billing ---- */

/* billing.periods[i].time_zone: a zone of the tz database, loaded now. */
static int read_zone(const struct tm_conf_ctx *c, const struct tm_node *v, const char *path,
		     void *obj)
{
	struct gw_billing_period_rule *p = obj;
	struct tm_error zerr = {0};
	if (tm_conf_string(c, v, path, GW_TZ_NAME_MAX, &p->time_zone) < 0)
		return -1;
	gw_tz_free(p->tz);
	if (gw_tz_load(p->time_zone, &p->tz, &zerr) < 0)
		return tm_conf_fail(c, v, zerr.reason, path, "%s", zerr.msg);
	return 0;
}

#define PER(member) TM_CONF_FIELD(struct gw_billing_period_rule, member)

static const struct tm_conf_entry period_keys[] = {
	TM_CONF_KEY("tenant", TM_CONF_STRING, NULL, TM_CONF_REQUIRED, 0, 64, PER(tenant),
	  "the tenant (and its descendants without an entry of their own)"),
	TM_CONF_KEY("read_day", TM_CONF_INT, NULL, TM_CONF_REQUIRED, 1, 28, PER(read_day),
	  "the meter-read day: a period ends at its first instant"),
	TM_CONF_KEY("time_zone", TM_CONF_CUSTOM, "UTC", TM_CONF_DEF_DOC, 0, 0, TM_CONF_NOFIELD,
	  "the contract's zone (tz database name, e.g. Europe/Berlin)", .read = read_zone,
	  .type_name = "zone"),
};

/* Each tenant once. */
static int check_billing(const struct tm_conf_ctx *c, const struct tm_node *n, const char *path,
			 void *obj)
{
	const struct gw_service_config *s = obj;
	for (size_t i = 0; i < s->n_periods; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(s->periods[i].tenant, s->periods[j].tenant) == 0) {
				char at[48];
				snprintf(at, sizeof(at), "%s.periods[%zu].tenant", path, i);
				const struct tm_node *l = tm_node_get(n, "periods");
				return tm_conf_fail(c, l != NULL ? l->u.seq.items[i] : n,
						    "config.bad_value", at, "tenant '%s' has an entry "
						    "already (periods[%zu])", s->periods[i].tenant, j);
			}
	return 0;
}

static const struct tm_conf_section period_section = TM_CONF_TABLE(period_keys, NULL);

static const struct tm_conf_entry billing_keys[] = {
	TM_CONF_KEY("estimate_after", TM_CONF_DURATION, "2d", 0, 0, MAXD, SVC(estimate_after),
	  "a boundary reading older than this is estimated at the boundary"),
	TM_CONF_KEY("stuck_after", TM_CONF_DURATION, "21d", 0, 86400, MAXD, SVC(stuck_after),
	  "a total unchanged this long while the device prints is suspect (stuck)"),
	TM_CONF_KEY("speed_margin", TM_CONF_INT, "150", 0, 100, 1000, SVC(speed_margin),
	  "too_fast allows this percent of a model's rated speed"),
	TM_CONF_KEY("models_file", TM_CONF_PATH, GW_MODELS_FILE " (when present)", TM_CONF_DEF_DOC,
	  0, 0, SVC(models_file), "rated speed and vendor meter codes per model"),
	TM_CONF_KEY("periods", TM_CONF_LIST, NULL, 0, 0, GW_SERVICE_MAX_PERIODS, SVC(periods),
	  "contract periods: read day and zone per tenant (else calendar months, UTC)",
	  .of = TM_CONF_SECTION, .count_offset = offsetof(struct gw_service_config, n_periods),
	  .elem_size = sizeof(struct gw_billing_period_rule), .section = &period_section),
};
const struct tm_conf_section gw_conf_billing = TM_CONF_TABLE(billing_keys, check_billing);

int gw_service_config_finish(struct gw_service_config *s, struct tm_error *err)
{
	gw_meter_models_free(s->models);
	s->models = NULL;
	if (s->models_file != NULL)
		return gw_meter_models_load(s->models_file, &s->models, err);
	if (access(GW_MODELS_FILE, F_OK) != 0)
		return 0;   /* not installed: every model at the default speed, no codes */
	return gw_meter_models_load(GW_MODELS_FILE, &s->models, err);
}

/* ---- notify ---- */

/* notify.email.relay: host or host:port ([v6]:port). */
static int read_relay(const struct tm_conf_ctx *c, const struct tm_node *v, const char *path,
		      void *obj)
{
	struct gw_service_config *s = obj;
	char *text = NULL;
	if (tm_conf_string(c, v, path, 255, &text) < 0)
		return -1;
	char *colon = strrchr(text, ':');
	s->smtp_port = 25;
	if (colon != NULL && (text[0] != '[' || colon > strchr(text, ']'))) {
		char *end;
		long port = strtol(colon + 1, &end, 10);
		if (colon[1] == '\0' || *end != '\0' || port < 1 || port > 65535) {
			free(text);
			return tm_conf_fail(c, v, "config.bad_value", path,
					    "want host or host:port (port 1..65535)");
		}
		s->smtp_port = (unsigned)port;
		*colon = '\0';
	}
	if (text[0] == '\0') {
		free(text);
		return tm_conf_fail(c, v, "config.bad_value", path, "empty host name");
	}
	free(s->smtp_host);
	s->smtp_host = text;
	return 0;
}

/* A channel's backoff may not shrink. */
static int check_retry(const struct tm_conf_ctx *c, const struct tm_node *n, const char *path,
		       const struct gw_retry_policy *p)
{
	if (p->max_backoff >= p->backoff)
		return 0;
	char at[64];
	snprintf(at, sizeof(at), "%s.max_backoff", path);
	const struct tm_node *v = tm_node_get(n, "max_backoff");
	return tm_conf_fail(c, v != NULL ? v : n, "config.bad_value", at,
			    "%llds is shorter than backoff (%llds)", (long long)p->max_backoff,
			    (long long)p->backoff);
}

static int check_email(const struct tm_conf_ctx *c, const struct tm_node *n, const char *path,
		       void *obj)
{
	return check_retry(c, n, path, &((struct gw_service_config *)obj)->email_retry);
}

static int check_webhook(const struct tm_conf_ctx *c, const struct tm_node *n, const char *path,
			 void *obj)
{
	struct gw_service_config *s = obj;
	if (strncmp(s->webhook_url, "https://", 8) != 0 && strncmp(s->webhook_url, "http://", 7) != 0)
		return tm_conf_fail(c, tm_node_get(n, "url"), "config.bad_value", "notify.webhook.url",
				    "want an http:// or https:// URL");
	return check_retry(c, n, path, &s->webhook_retry);
}

/* A channel's retry policy (struct gw_retry_policy): the same keys, its own
 * defaults. */
#define RETRY_KEYS(policy, def_retries, def_max_backoff, what) \
	TM_CONF_KEY("retries", TM_CONF_INT, def_retries, 0, 0, 100000, SVC(policy.retries), \
		    "attempts before " what " is given up (0: no limit by count)"), \
	TM_CONF_KEY("backoff", TM_CONF_DURATION, "1m", 0, 1, MAXD, SVC(policy.backoff), \
		    "wait after the first failed attempt, doubling"), \
	TM_CONF_KEY("max_backoff", TM_CONF_DURATION, def_max_backoff, 0, 1, MAXD, \
		    SVC(policy.max_backoff), "the longest wait between attempts"), \
	TM_CONF_KEY("give_up_after", TM_CONF_DURATION, "7d", 0, 0, MAXD, SVC(policy.give_up_after), \
		    what " queued this long is given up (0s: no limit by age)")

static const struct tm_conf_choice starttls_modes[] = {
	{ "required", 1 }, { "off", 0 }, { NULL, 0 },
};

static const struct tm_conf_entry email_keys[] = {
	TM_CONF_KEY("relay", TM_CONF_CUSTOM, NULL, TM_CONF_REQUIRED, 0, 0, TM_CONF_NOFIELD,
	  "the SMTP relay: host or host:port (port 25 by default)",
	  .read = read_relay, .type_name = "host[:port]"),
	TM_CONF_KEY("starttls", TM_CONF_ENUM, "required", 0, 0, 0, SVC(starttls),
	  "off only for loopback test sinks", .choices = starttls_modes),
	TM_CONF_KEY("ca_file", TM_CONF_PATH, "(the system store)", TM_CONF_DEF_DOC, 0, 0, SVC(smtp_ca_file),
	  "CA certificates for the relay's certificate"),
	TM_CONF_KEY("from", TM_CONF_ADDRESS, NULL, TM_CONF_REQUIRED, 0, 0, SVC(mail_from),
	  "the notifications' sender"),
	TM_CONF_KEY("to", TM_CONF_LIST, NULL, TM_CONF_REQUIRED | TM_CONF_INLINE, 1, GW_SERVICE_MAX_RECIPIENTS,
	  SVC(mail_to), "the service team's mailboxes", .of = TM_CONF_ADDRESS,
	  .count_offset = offsetof(struct gw_service_config, n_mail_to)),
	TM_CONF_KEY("timeout", TM_CONF_DURATION, "30s", 0, 1, MAXD, SVC(smtp_timeout),
	  "per SMTP step"),
	RETRY_KEYS(email_retry, "0", "10m", "a mail"),
};
static const struct tm_conf_section email_section = TM_CONF_TABLE(email_keys, check_email);

static const struct tm_conf_entry webhook_keys[] = {
	TM_CONF_KEY("url", TM_CONF_STRING, NULL, TM_CONF_REQUIRED, 0, 2048, SVC(webhook_url),
	  "http:// or https:// URL that receives each notification (JSON)"),
	TM_CONF_KEY("secret_file", TM_CONF_PATH, NULL, TM_CONF_REQUIRED, 0, 0, SVC(webhook_secret_file),
	  "HMAC-SHA256 key of the signature header"),
	TM_CONF_KEY("timeout", TM_CONF_DURATION, "10s", 0, 1, MAXD, SVC(webhook_timeout),
	  "per request"),
	RETRY_KEYS(webhook_retry, "5", "1d", "a notification"),
};
static const struct tm_conf_section webhook_section = TM_CONF_TABLE(webhook_keys, check_webhook);

static const struct tm_conf_entry throttle_keys[] = {
	TM_CONF_KEY("max", TM_CONF_INT, "5", 0, 1, 10000, SVC(throttle_max),
	  "immediate mails per kind per throttle.per"),
	TM_CONF_KEY("per", TM_CONF_DURATION, "2h", 0, 1, MAXD, SVC(throttle_per), "the throttle's window"),
};
static const struct tm_conf_section throttle_section = TM_CONF_TABLE(throttle_keys, NULL);

static const struct tm_conf_entry notify_keys[] = {
	TM_CONF_KEY("email", TM_CONF_SECTION, NULL, 0, 0, 0, TM_CONF_NOFIELD, NULL, .section = &email_section),
	TM_CONF_KEY("throttle", TM_CONF_SECTION, NULL, 0, 0, 0, TM_CONF_NOFIELD, NULL, .section = &throttle_section),
	TM_CONF_KEY("digest_interval", TM_CONF_DURATION, "1h", 0, 0, MAXD, SVC(digest_interval),
	  "non-critical mails wait this long for a digest"),
	TM_CONF_KEY("webhook", TM_CONF_SECTION, NULL, 0, 0, 0, TM_CONF_NOFIELD, NULL, .section = &webhook_section),
	TM_CONF_KEY("every", TM_CONF_DURATION, "1m", 0, 1, MAXD, SVC(notify_every),
	  "serve delivers due notifications this often"),
	TM_CONF_KEY("lease", TM_CONF_DURATION, "5m", 0, 1, 86400, SVC(notify_lease),
	  "a run holds the notifications it claimed this long (gateways sharing a database);"
	  " longer than each configured channel's timeout"),
};

/* A run claims notifications for notify.lease and stops delivering before
 * the lease runs out: it must outlast one delivery of each configured
 * channel. */
static int check_notify(const struct tm_conf_ctx *c, const struct tm_node *n, const char *path,
			void *obj)
{
	const struct gw_service_config *s = obj;
	int64_t mail = s->smtp_host != NULL ? s->smtp_timeout : 0;
	int64_t hook = s->webhook_url != NULL ? s->webhook_timeout : 0;
	int64_t longest = mail > hook ? mail : hook;
	if (s->notify_lease > longest)
		return 0;
	char at[64];
	snprintf(at, sizeof(at), "%s.lease", path);
	const struct tm_node *v = tm_node_get(n, "lease");
	return tm_conf_fail(c, v != NULL ? v : n, "config.bad_value", at,
			    "%llds must be longer than the channels' timeouts (%llds)",
			    (long long)s->notify_lease, (long long)longest);
}
const struct tm_conf_section gw_conf_notify = TM_CONF_TABLE(notify_keys, check_notify);

void gw_service_config_defaults(struct gw_service_config *s)
{
	memset(s, 0, sizeof(*s));
	/* the tables' defaults are constants: nothing here can fail */
	(void)tm_conf_defaults(&gw_conf_alerts, s, NULL);
	(void)tm_conf_defaults(&gw_conf_billing, s, NULL);
	(void)tm_conf_defaults(&gw_conf_notify, s, NULL);
	s->supply_low_default = 10;   /* alerts.supply_low.default */
	s->smtp_port = 25;            /* notify.email.relay without a port */
}

void gw_config_service_free(struct gw_service_config *s)
{
	if (s == NULL)
		return;
	tm_conf_release(&gw_conf_alerts, s);
	for (size_t i = 0; i < s->n_periods; i++) {
		gw_tz_free(s->periods[i].tz);
		free(s->periods[i].time_zone);
	}
	tm_conf_release(&gw_conf_billing, s);
	gw_meter_models_free(s->models);
	tm_conf_release(&gw_conf_notify, s);
	free(s->smtp_host);
	free(s);
}

unsigned gw_service_supply_threshold(const struct gw_service_config *s, const char *type,
				     const char *colorant)
{
	unsigned pct = s->supply_low_default;
	bool typed = false;
	for (size_t i = 0; i < s->n_thresholds; i++) {
		const struct gw_supply_threshold *t = &s->thresholds[i];
		if (type == NULL || strcmp(t->type, type) != 0)
			continue;
		if (t->colorant[0] != '\0') {
			if (colorant != NULL && strcmp(t->colorant, colorant) == 0)
				return t->percent;   /* the most specific entry wins */
		} else if (!typed) {
			pct = t->percent;
			typed = true;
		}
	}
	return pct;
}
