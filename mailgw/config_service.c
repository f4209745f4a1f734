/* telemail-mailgw — `alerts:`, `billing:` and `notify:` of the configuration. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/error.h>
#include <telemail/node.h>

#include "config.h"
#include "config_service.h"

struct sctx {
	const char *name;
	const char *base;
	struct tm_error *err;
};

__attribute__((format(printf, 4, 5)))
static int fail(const struct sctx *c, const struct tm_node *at, const char *path,
		const char *fmt, ...)
{
	char msg[TM_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return tm_error_set(c->err, "config.bad_value", "%s:%u: %s: %s", c->name,
			    at != NULL ? at->line : 1u, path, msg);
}

static const struct tm_node *get(const struct tm_node *map, const char *key)
{
	for (size_t i = 0; i < map->u.map.n; i++)
		if (strcmp(map->u.map.pairs[i].key, key) == 0)
			return map->u.map.pairs[i].value;
	return NULL;
}

/* A mapping whose keys are all in `allowed`. */
static int want_map(const struct sctx *c, const struct tm_node *n, const char *path,
		    const char *const *allowed)
{
	if (n->type != TM_NODE_MAP)
		return fail(c, n, path, "must be a mapping, not %s", tm_node_type_name(n->type));
	for (size_t i = 0; i < n->u.map.n && allowed != NULL; i++) {
		bool ok = false;
		for (const char *const *a = allowed; *a != NULL && !ok; a++)
			ok = strcmp(*a, n->u.map.pairs[i].key) == 0;
		if (!ok)
			return tm_error_set(c->err, "config.unknown_key", "%s:%u: %s.%s: unknown key",
					    c->name, n->u.map.pairs[i].value->line, path,
					    n->u.map.pairs[i].key);
	}
	return 0;
}

static int get_str(const struct sctx *c, const struct tm_node *n, const char *path, size_t max,
		   char **out)
{
	if (n->type != TM_NODE_STRING)
		return fail(c, n, path, "must be a string, not %s", tm_node_type_name(n->type));
	if (n->u.str.len == 0 || n->u.str.len > max)
		return fail(c, n, path, "must be 1 to %zu bytes", max);
	for (size_t i = 0; i < n->u.str.len; i++)
		if ((unsigned char)n->u.str.s[i] < 0x20 || n->u.str.s[i] == 0x7f)
			return fail(c, n, path, "holds a control character");
	free(*out);
	*out = strdup(n->u.str.s);
	if (*out == NULL)
		return tm_error_set(c->err, "internal.nomem", "out of memory");
	return 0;
}

static int get_path(const struct sctx *c, const struct tm_node *n, const char *path, char **out)
{
	char *s = NULL;
	if (get_str(c, n, path, GW_CONFIG_MAX_PATH, &s) < 0)
		return -1;
	if (s[0] == '/' || c->base == NULL) {
		free(*out);
		*out = s;
		return 0;
	}
	size_t len = strlen(c->base) + strlen(s) + 2;
	char *p = malloc(len);
	if (p != NULL)
		snprintf(p, len, "%s/%s", c->base, s);
	free(s);
	free(*out);
	*out = p;
	return p != NULL ? 0 : tm_error_set(c->err, "internal.nomem", "out of memory");
}

static int get_uint(const struct sctx *c, const struct tm_node *n, const char *path,
		    int64_t min, int64_t max, unsigned *out)
{
	if (n->type != TM_NODE_INT)
		return fail(c, n, path, "must be an integer, not %s", tm_node_type_name(n->type));
	if (n->u.i < min || n->u.i > max)
		return fail(c, n, path, "%lld is out of range %lld..%lld", (long long)n->u.i,
			    (long long)min, (long long)max);
	*out = (unsigned)n->u.i;
	return 0;
}

static int get_dur(const struct sctx *c, const struct tm_node *n, const char *path, int64_t min,
		   int64_t *out)
{
	if (n->type != TM_NODE_STRING)
		return fail(c, n, path, "must be a duration such as 7d, not %s",
			    tm_node_type_name(n->type));
	struct tm_error e = {0};
	int64_t v;
	if (gw_config_duration(n->u.str.s, &v, &e) < 0)
		return fail(c, n, path, "%s", e.msg);
	if (v < min)
		return fail(c, n, path, "%s is shorter than %lld s", n->u.str.s, (long long)min);
	*out = v;
	return 0;
}

/* ---- alerts ---- */

static int read_thresholds(const struct sctx *c, const struct tm_node *n,
			   struct gw_service_config *s)
{
	if (want_map(c, n, "alerts.supply_low", NULL) < 0)
		return -1;
	if (n->u.map.n > GW_SERVICE_MAX_THRESHOLDS)
		return fail(c, n, "alerts.supply_low", "more than %d entries",
			    GW_SERVICE_MAX_THRESHOLDS);
	for (size_t i = 0; i < n->u.map.n; i++) {
		const char *key = n->u.map.pairs[i].key;
		const struct tm_node *v = n->u.map.pairs[i].value;
		char path[160];
		unsigned pct;
		snprintf(path, sizeof(path), "alerts.supply_low.%.100s", key);
		if (get_uint(c, v, path, 0, 100, &pct) < 0)
			return -1;
		if (strcmp(key, "default") == 0) {
			s->supply_low_default = pct;
			continue;
		}
		struct gw_supply_threshold *t = &s->thresholds[s->n_thresholds];
		const char *slash = strchr(key, '/');
		size_t tl = slash != NULL ? (size_t)(slash - key) : strlen(key);
		if (tl == 0 || tl >= sizeof(t->type) ||
		    (slash != NULL && (slash[1] == '\0' || strlen(slash + 1) >= sizeof(t->colorant))))
			return fail(c, v, path, "want a supply type or type/colorant (e.g. toner/black)");
		memcpy(t->type, key, tl);
		t->type[tl] = '\0';
		snprintf(t->colorant, sizeof(t->colorant), "%s", slash != NULL ? slash + 1 : "");
		t->percent = pct;
		s->n_thresholds++;
	}
	return 0;
}

static int read_alerts(const struct sctx *c, const struct tm_node *n, struct gw_service_config *s)
{
	static const char *const keys[] = { "silence", "check_every", "part_life_percent", "supply_low",
					    NULL };
	const struct tm_node *v;
	if (want_map(c, n, "alerts", keys) < 0)
		return -1;
	if ((v = get(n, "silence")) != NULL && get_dur(c, v, "alerts.silence", 60, &s->silence) < 0)
		return -1;
	if ((v = get(n, "check_every")) != NULL &&
	    get_dur(c, v, "alerts.check_every", 1, &s->silence_check_every) < 0)
		return -1;
	if ((v = get(n, "part_life_percent")) != NULL &&
	    get_uint(c, v, "alerts.part_life_percent", 1, 1000, &s->part_life_percent) < 0)
		return -1;
	if ((v = get(n, "supply_low")) != NULL && read_thresholds(c, v, s) < 0)
		return -1;
	return 0;
}

static int read_billing(const struct sctx *c, const struct tm_node *n,
			struct gw_service_config *s)
{
	static const char *const keys[] = { "estimate_after", NULL };
	const struct tm_node *v;
	if (want_map(c, n, "billing", keys) < 0)
		return -1;
	if ((v = get(n, "estimate_after")) != NULL &&
	    get_dur(c, v, "billing.estimate_after", 0, &s->estimate_after) < 0)
		return -1;
	return 0;
}

/* ---- notify ---- */

static bool mailbox_ok(const char *s)
{
	const char *at = strchr(s, '@');
	if (at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@') != NULL || strlen(s) > 254)
		return false;
	for (const char *p = s; *p; p++)
		if (*p <= ' ' || *p == '<' || *p == '>' || *p == ',' || *p == '"' || *p == 0x7f)
			return false;
	return true;
}

static int read_relay(const struct sctx *c, const struct tm_node *v, struct gw_service_config *s)
{
	char *text = NULL;
	if (get_str(c, v, "notify.email.relay", 255, &text) < 0)
		return -1;
	char *colon = strrchr(text, ':');
	s->smtp_port = 25;
	if (colon != NULL && (text[0] != '[' || colon > strchr(text, ']'))) {
		char *end;
		long port = strtol(colon + 1, &end, 10);
		if (colon[1] == '\0' || *end != '\0' || port < 1 || port > 65535) {
			free(text);
			return fail(c, v, "notify.email.relay", "want host or host:port (port 1..65535)");
		}
		s->smtp_port = (unsigned)port;
		*colon = '\0';
	}
	if (text[0] == '\0') {
		free(text);
		return fail(c, v, "notify.email.relay", "empty host name");
	}
	free(s->smtp_host);
	s->smtp_host = text;
	return 0;
}

static int read_email(const struct sctx *c, const struct tm_node *n, struct gw_service_config *s)
{
	static const char *const keys[] = {
		"relay", "starttls", "ca_file", "from", "to", "timeout", NULL,
	};
	const struct tm_node *v;
	if (want_map(c, n, "notify.email", keys) < 0)
		return -1;
	if ((v = get(n, "relay")) == NULL)
		return tm_error_set(c->err, "config.missing_key", "%s:%u: notify.email.relay: missing",
				    c->name, n->line);
	if (read_relay(c, v, s) < 0)
		return -1;
	if ((v = get(n, "starttls")) != NULL) {
		char *mode = NULL;
		if (get_str(c, v, "notify.email.starttls", 16, &mode) < 0)
			return -1;
		bool req = strcmp(mode, "required") == 0, off = strcmp(mode, "off") == 0;
		free(mode);
		if (!req && !off)
			return fail(c, v, "notify.email.starttls", "want required or off");
		s->starttls = req ? 1 : 0;
	}
	if ((v = get(n, "ca_file")) != NULL && get_path(c, v, "notify.email.ca_file", &s->smtp_ca_file) < 0)
		return -1;
	if ((v = get(n, "from")) == NULL)
		return tm_error_set(c->err, "config.missing_key", "%s:%u: notify.email.from: missing",
				    c->name, n->line);
	if (get_str(c, v, "notify.email.from", 254, &s->mail_from) < 0)
		return -1;
	if (!mailbox_ok(s->mail_from))
		return fail(c, v, "notify.email.from", "'%s' is not a mailbox", s->mail_from);
	if ((v = get(n, "to")) == NULL)
		return tm_error_set(c->err, "config.missing_key", "%s:%u: notify.email.to: missing",
				    c->name, n->line);
	if (v->type != TM_NODE_SEQ || v->u.seq.n == 0 || v->u.seq.n > GW_SERVICE_MAX_RECIPIENTS)
		return fail(c, v, "notify.email.to", "must be a list of 1 to %d mailboxes",
			    GW_SERVICE_MAX_RECIPIENTS);
	for (size_t i = 0; i < v->u.seq.n; i++) {
		char path[64];
		snprintf(path, sizeof(path), "notify.email.to[%zu]", i);
		if (get_str(c, v->u.seq.items[i], path, 254, &s->mail_to[i]) < 0)
			return -1;
		s->n_mail_to = i + 1;
		if (!mailbox_ok(s->mail_to[i]))
			return fail(c, v->u.seq.items[i], path, "'%s' is not a mailbox", s->mail_to[i]);
	}
	if ((v = get(n, "timeout")) != NULL &&
	    get_dur(c, v, "notify.email.timeout", 1, &s->smtp_timeout) < 0)
		return -1;
	return 0;
}

static int read_webhook(const struct sctx *c, const struct tm_node *n,
			struct gw_service_config *s)
{
	static const char *const keys[] = { "url", "secret_file", "retries", "backoff", "timeout", NULL };
	const struct tm_node *v;
	if (want_map(c, n, "notify.webhook", keys) < 0)
		return -1;
	if ((v = get(n, "url")) == NULL)
		return tm_error_set(c->err, "config.missing_key", "%s:%u: notify.webhook.url: missing",
				    c->name, n->line);
	if (get_str(c, v, "notify.webhook.url", 2048, &s->webhook_url) < 0)
		return -1;
	if (strncmp(s->webhook_url, "https://", 8) != 0 && strncmp(s->webhook_url, "http://", 7) != 0)
		return fail(c, v, "notify.webhook.url", "want an http:// or https:// URL");
	if ((v = get(n, "secret_file")) == NULL)
		return tm_error_set(c->err, "config.missing_key",
				    "%s:%u: notify.webhook.secret_file: missing", c->name, n->line);
	if (get_path(c, v, "notify.webhook.secret_file", &s->webhook_secret_file) < 0)
		return -1;
	if ((v = get(n, "retries")) != NULL &&
	    get_uint(c, v, "notify.webhook.retries", 1, 100, &s->webhook_retries) < 0)
		return -1;
	if ((v = get(n, "backoff")) != NULL &&
	    get_dur(c, v, "notify.webhook.backoff", 1, &s->webhook_backoff) < 0)
		return -1;
	if ((v = get(n, "timeout")) != NULL &&
	    get_dur(c, v, "notify.webhook.timeout", 1, &s->webhook_timeout) < 0)
		return -1;
	return 0;
}

static int read_notify(const struct sctx *c, const struct tm_node *n, struct gw_service_config *s)
{
	static const char *const keys[] = { "email", "throttle", "digest_interval", "webhook", "every",
					    NULL };
	const struct tm_node *v;
	if (want_map(c, n, "notify", keys) < 0)
		return -1;
	if ((v = get(n, "email")) != NULL && read_email(c, v, s) < 0)
		return -1;
	if ((v = get(n, "throttle")) != NULL) {
		static const char *const tkeys[] = { "max", "per", NULL };
		const struct tm_node *t;
		if (want_map(c, v, "notify.throttle", tkeys) < 0)
			return -1;
		if ((t = get(v, "max")) != NULL &&
		    get_uint(c, t, "notify.throttle.max", 1, 10000, &s->throttle_max) < 0)
			return -1;
		if ((t = get(v, "per")) != NULL && get_dur(c, t, "notify.throttle.per", 1, &s->throttle_per) < 0)
			return -1;
	}
	if ((v = get(n, "digest_interval")) != NULL &&
	    get_dur(c, v, "notify.digest_interval", 0, &s->digest_interval) < 0)
		return -1;
	if ((v = get(n, "webhook")) != NULL && read_webhook(c, v, s) < 0)
		return -1;
	if ((v = get(n, "every")) != NULL && get_dur(c, v, "notify.every", 1, &s->notify_every) < 0)
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
	s->webhook_retries = 5;
	s->webhook_backoff = 60;
	s->webhook_timeout = 10;
}

int gw_config_service_read(const struct tm_node *root, const char *name, const char *base_dir,
			   struct gw_service_config **out, struct tm_error *err)
{
	struct sctx c = { .name = name, .base = base_dir, .err = err };
	struct gw_service_config *s = malloc(sizeof(*s));
	const struct tm_node *v;
	*out = NULL;
	if (s == NULL)
		return tm_error_set(err, "internal.nomem", "out of memory");
	gw_service_config_defaults(s);
	if (root != NULL && root->type == TM_NODE_MAP) {
		if (((v = get(root, "alerts")) != NULL && read_alerts(&c, v, s) < 0) ||
		    ((v = get(root, "billing")) != NULL && read_billing(&c, v, s) < 0) ||
		    ((v = get(root, "notify")) != NULL && read_notify(&c, v, s) < 0)) {
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
