/* telemail-mailgw — `alerts:`, `billing:` and `notify:` of the configuration. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/error.h>
#include <telemail/mailbox.h>
#include <telemail/node.h>

#include "config/config.h"
#include "config/config_util.h"
#include "config/config_service.h"

/* ---- alerts ---- */

static int read_thresholds(const struct gw_cfgctx *c, const struct tm_node *n,
			   struct gw_service_config *s)
{
	if (gw_cfg_want_map(c, n, "alerts.supply_low", NULL) < 0)
		return -1;
	if (n->u.map.n > GW_SERVICE_MAX_THRESHOLDS)
		return gw_cfg_bad(c, n, "alerts.supply_low", "more than %d entries",
			    GW_SERVICE_MAX_THRESHOLDS);
	for (size_t i = 0; i < n->u.map.n; i++) {
		const char *key = n->u.map.pairs[i].key;
		const struct tm_node *v = n->u.map.pairs[i].value;
		char path[160];
		unsigned pct;
		snprintf(path, sizeof(path), "alerts.supply_low.%.100s", key);
		if (gw_cfg_uint(c, v, path, 0, 100, &pct) < 0)
			return -1;
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
			return gw_cfg_bad(c, v, path, "want a supply type or type/colorant (e.g. toner/black)");
		memcpy(t->type, key, tl);
		t->type[tl] = '\0';
		snprintf(t->colorant, sizeof(t->colorant), "%s", slash != NULL ? slash + 1 : "");
		t->percent = pct;
		s->n_thresholds++;
	}
	return 0;
}

static int read_alerts(const struct gw_cfgctx *c, const struct tm_node *n, struct gw_service_config *s)
{
	static const char *const keys[] = { "silence", "check_every", "part_life_percent", "supply_low",
					    NULL };
	const struct tm_node *v;
	if (gw_cfg_want_map(c, n, "alerts", keys) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "silence")) != NULL &&
	    gw_cfg_dur(c, v, "alerts.silence", 60, GW_CONFIG_MAX_DURATION, &s->silence) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "check_every")) != NULL &&
	    gw_cfg_dur(c, v, "alerts.check_every", 1, GW_CONFIG_MAX_DURATION, &s->silence_check_every) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "part_life_percent")) != NULL &&
	    gw_cfg_uint(c, v, "alerts.part_life_percent", 1, 1000, &s->part_life_percent) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "supply_low")) != NULL && read_thresholds(c, v, s) < 0)
		return -1;
	return 0;
}

static int read_billing(const struct gw_cfgctx *c, const struct tm_node *n,
			struct gw_service_config *s)
{
	static const char *const keys[] = { "estimate_after", NULL };
	const struct tm_node *v;
	if (gw_cfg_want_map(c, n, "billing", keys) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "estimate_after")) != NULL &&
	    gw_cfg_dur(c, v, "billing.estimate_after", 0, GW_CONFIG_MAX_DURATION, &s->estimate_after) < 0)
		return -1;
	return 0;
}

/* ---- notify ---- */

static int read_relay(const struct gw_cfgctx *c, const struct tm_node *v, struct gw_service_config *s)
{
	char *text = NULL;
	if (gw_cfg_str(c, v, "notify.email.relay", 255, &text) < 0)
		return -1;
	char *colon = strrchr(text, ':');
	s->smtp_port = 25;
	if (colon != NULL && (text[0] != '[' || colon > strchr(text, ']'))) {
		char *end;
		long port = strtol(colon + 1, &end, 10);
		if (colon[1] == '\0' || *end != '\0' || port < 1 || port > 65535) {
			free(text);
			return gw_cfg_bad(c, v, "notify.email.relay", "want host or host:port (port 1..65535)");
		}
		s->smtp_port = (unsigned)port;
		*colon = '\0';
	}
	if (text[0] == '\0') {
		free(text);
		return gw_cfg_bad(c, v, "notify.email.relay", "empty host name");
	}
	free(s->smtp_host);
	s->smtp_host = text;
	return 0;
}

/* The retry keys of a channel (`prefix` is notify.email or notify.webhook). */
static int read_retry(const struct gw_cfgctx *c, const struct tm_node *n, const char *prefix,
		      struct gw_retry_policy *p)
{
	static const char *const keys[] = { "retries", "backoff", "max_backoff", "give_up_after" };
	const struct tm_node *v;
	char path[64];
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if ((v = gw_cfg_get(n, keys[i])) == NULL)
			continue;
		snprintf(path, sizeof(path), "%s.%s", prefix, keys[i]);
		int rc = i == 0 ? gw_cfg_uint(c, v, path, 0, 100000, &p->retries)
			 : i == 1 ? gw_cfg_dur(c, v, path, 1, GW_CONFIG_MAX_DURATION, &p->backoff)
			 : i == 2 ? gw_cfg_dur(c, v, path, 1, GW_CONFIG_MAX_DURATION, &p->max_backoff)
				  : gw_cfg_dur(c, v, path, 0, GW_CONFIG_MAX_DURATION, &p->give_up_after);
		if (rc < 0)
			return -1;
	}
	if (p->max_backoff < p->backoff) {
		snprintf(path, sizeof(path), "%s.max_backoff", prefix);
		v = gw_cfg_get(n, "max_backoff");
		return gw_cfg_bad(c, v != NULL ? v : n, path, "%llds is shorter than backoff (%llds)",
				  (long long)p->max_backoff, (long long)p->backoff);
	}
	return 0;
}

static int read_email(const struct gw_cfgctx *c, const struct tm_node *n, struct gw_service_config *s)
{
	static const char *const keys[] = {
		"relay", "starttls", "ca_file", "from", "to", "timeout",
		"retries", "backoff", "max_backoff", "give_up_after", NULL,
	};
	const struct tm_node *v;
	if (gw_cfg_want_map(c, n, "notify.email", keys) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "relay")) == NULL)
		return tm_error_set(c->err, "config.missing_key", "%s:%u: notify.email.relay: missing",
				    c->name, n->line);
	if (read_relay(c, v, s) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "starttls")) != NULL) {
		char *mode = NULL;
		if (gw_cfg_str(c, v, "notify.email.starttls", 16, &mode) < 0)
			return -1;
		bool req = strcmp(mode, "required") == 0, off = strcmp(mode, "off") == 0;
		free(mode);
		if (!req && !off)
			return gw_cfg_bad(c, v, "notify.email.starttls", "want required or off");
		s->starttls = req ? 1 : 0;
	}
	if ((v = gw_cfg_get(n, "ca_file")) != NULL &&
	    gw_cfg_path(c, v, "notify.email.ca_file", &s->smtp_ca_file) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "from")) == NULL)
		return tm_error_set(c->err, "config.missing_key", "%s:%u: notify.email.from: missing",
				    c->name, n->line);
	if (gw_cfg_str(c, v, "notify.email.from", 254, &s->mail_from) < 0)
		return -1;
	if (!tm_mailbox_ok(s->mail_from))
		return gw_cfg_bad(c, v, "notify.email.from", "'%s' is not a mailbox", s->mail_from);
	if ((v = gw_cfg_get(n, "to")) == NULL)
		return tm_error_set(c->err, "config.missing_key", "%s:%u: notify.email.to: missing",
				    c->name, n->line);
	if (v->type != TM_NODE_SEQ || v->u.seq.n == 0 || v->u.seq.n > GW_SERVICE_MAX_RECIPIENTS)
		return gw_cfg_bad(c, v, "notify.email.to", "must be a list of 1 to %d mailboxes",
			    GW_SERVICE_MAX_RECIPIENTS);
	for (size_t i = 0; i < v->u.seq.n; i++) {
		char path[64];
		snprintf(path, sizeof(path), "notify.email.to[%zu]", i);
		if (gw_cfg_str(c, v->u.seq.items[i], path, 254, &s->mail_to[i]) < 0)
			return -1;
		s->n_mail_to = i + 1;
		if (!tm_mailbox_ok(s->mail_to[i]))
			return gw_cfg_bad(c, v->u.seq.items[i], path, "'%s' is not a mailbox", s->mail_to[i]);
	}
	if ((v = gw_cfg_get(n, "timeout")) != NULL &&
	    gw_cfg_dur(c, v, "notify.email.timeout", 1, GW_CONFIG_MAX_DURATION, &s->smtp_timeout) < 0)
		return -1;
	return read_retry(c, n, "notify.email", &s->email_retry);
}

static int read_webhook(const struct gw_cfgctx *c, const struct tm_node *n,
			struct gw_service_config *s)
{
	static const char *const keys[] = { "url", "secret_file", "retries", "backoff", "max_backoff",
					    "give_up_after", "timeout", NULL };
	const struct tm_node *v;
	if (gw_cfg_want_map(c, n, "notify.webhook", keys) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "url")) == NULL)
		return tm_error_set(c->err, "config.missing_key", "%s:%u: notify.webhook.url: missing",
				    c->name, n->line);
	if (gw_cfg_str(c, v, "notify.webhook.url", 2048, &s->webhook_url) < 0)
		return -1;
	if (strncmp(s->webhook_url, "https://", 8) != 0 && strncmp(s->webhook_url, "http://", 7) != 0)
		return gw_cfg_bad(c, v, "notify.webhook.url", "want an http:// or https:// URL");
	if ((v = gw_cfg_get(n, "secret_file")) == NULL)
		return tm_error_set(c->err, "config.missing_key",
				    "%s:%u: notify.webhook.secret_file: missing", c->name, n->line);
	if (gw_cfg_path(c, v, "notify.webhook.secret_file", &s->webhook_secret_file) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "timeout")) != NULL &&
	    gw_cfg_dur(c, v, "notify.webhook.timeout", 1, GW_CONFIG_MAX_DURATION, &s->webhook_timeout) < 0)
		return -1;
	return read_retry(c, n, "notify.webhook", &s->webhook_retry);
}

static int read_notify(const struct gw_cfgctx *c, const struct tm_node *n, struct gw_service_config *s)
{
	static const char *const keys[] = { "email", "throttle", "digest_interval", "webhook", "every",
					    NULL };
	const struct tm_node *v;
	if (gw_cfg_want_map(c, n, "notify", keys) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "email")) != NULL && read_email(c, v, s) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "throttle")) != NULL) {
		static const char *const tkeys[] = { "max", "per", NULL };
		const struct tm_node *t;
		if (gw_cfg_want_map(c, v, "notify.throttle", tkeys) < 0)
			return -1;
		if ((t = gw_cfg_get(v, "max")) != NULL &&
		    gw_cfg_uint(c, t, "notify.throttle.max", 1, 10000, &s->throttle_max) < 0)
			return -1;
		if ((t = gw_cfg_get(v, "per")) != NULL &&
		    gw_cfg_dur(c, t, "notify.throttle.per", 1, GW_CONFIG_MAX_DURATION, &s->throttle_per) < 0)
			return -1;
	}
	if ((v = gw_cfg_get(n, "digest_interval")) != NULL &&
	    gw_cfg_dur(c, v, "notify.digest_interval", 0, GW_CONFIG_MAX_DURATION, &s->digest_interval) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "webhook")) != NULL && read_webhook(c, v, s) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "every")) != NULL &&
	    gw_cfg_dur(c, v, "notify.every", 1, GW_CONFIG_MAX_DURATION, &s->notify_every) < 0)
		return -1;
	return 0;
}

void gw_service_config_defaults(struct gw_service_config *s)
{
	memset(s, 0, sizeof(*s));
	s->silence = 7 * 86400;
	s->silence_check_every = 600;
	s->part_life_percent = 90;
	s->supply_low_default = 10;
	s->estimate_after = 2 * 86400;
	s->smtp_port = 25;
	s->starttls = 1;
	s->smtp_timeout = 30;
	s->throttle_max = 5;
	s->throttle_per = 2 * 3600;
	s->digest_interval = 3600;
	s->notify_every = 60;
	/* e-mail keeps trying through a relay outage of a long weekend */
	s->email_retry = (struct gw_retry_policy){ .retries = 0, .backoff = 60, .max_backoff = 600,
						   .give_up_after = 7 * 86400 };
	s->webhook_retry = (struct gw_retry_policy){ .retries = 5, .backoff = 60,
						     .max_backoff = 86400, .give_up_after = 7 * 86400 };
	s->webhook_timeout = 10;
}

int gw_config_service_read(const struct tm_node *root, const char *name, const char *base_dir,
			   struct gw_service_config **out, struct tm_error *err)
{
	struct gw_cfgctx c = { .name = name, .base = base_dir, .err = err };
	struct gw_service_config *s = malloc(sizeof(*s));
	const struct tm_node *v;
	*out = NULL;
	if (s == NULL)
		return tm_error_set(err, "internal.nomem", "out of memory");
	gw_service_config_defaults(s);
	if (root != NULL && root->type == TM_NODE_MAP) {
		if (((v = gw_cfg_get(root, "alerts")) != NULL && read_alerts(&c, v, s) < 0) ||
		    ((v = gw_cfg_get(root, "billing")) != NULL && read_billing(&c, v, s) < 0) ||
		    ((v = gw_cfg_get(root, "notify")) != NULL && read_notify(&c, v, s) < 0)) {
			gw_config_service_free(s);
			return -1;
		}
	}
	*out = s;
	return 0;
}

void gw_config_service_free(struct gw_service_config *s)
{
	if (s == NULL)
		return;
	free(s->smtp_host);
	free(s->smtp_ca_file);
	free(s->mail_from);
	for (size_t i = 0; i < s->n_mail_to; i++)
		free(s->mail_to[i]);
	free(s->webhook_url);
	free(s->webhook_secret_file);
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
