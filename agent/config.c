/* telemail-agent — configuration: YAML tree (tm_yaml_read) → struct ag_config.
 * Every key is checked: unknown keys, wrong types and values out of range are
 * errors naming the line and the key path. */
#include <ctype.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/mailbox.h>
#include <telemail/node.h>

#include "config.h"

#define CONFIG_MAX_BYTES (1u << 20)

struct cfgctx {
	const char *base;
	struct tm_error *err;
};

static int bad(struct cfgctx *x, const struct tm_node *n, const char *where, const char *what)
{
	return tm_error_set(x->err, "config.bad_value", "line %u: %s: %s", n ? n->line : 0, where, what);
}

static int check_keys(struct cfgctx *x, const struct tm_node *map, const char *where,
		      const char *const *allowed)
{
	if (map->type != TM_NODE_MAP)
		return bad(x, map, where, "must be a mapping");
	for (size_t i = 0; i < map->u.map.n; i++) {
		bool ok = false;
		for (const char *const *a = allowed; *a; a++)
			if (strcmp(*a, map->u.map.pairs[i].key) == 0)
				ok = true;
		if (!ok)
			return tm_error_set(x->err, "config.unknown_key", "line %u: %s.%s: unknown key",
					    map->u.map.pairs[i].value->line, where,
					    map->u.map.pairs[i].key);
	}
	return 0;
}

static int get_str(struct cfgctx *x, const struct tm_node *map, const char *key,
		   const char *where, bool required, char **out)
{
	const struct tm_node *n = tm_node_get(map, key);
	if (n == NULL || n->type == TM_NODE_NULL) {
		if (required)
			return tm_error_set(x->err, "config.missing_key", "line %u: %s.%s is required",
					    map->line, where, key);
		return 0;
	}
	if (n->type != TM_NODE_STRING || n->u.str.len == 0) {
		char w[160];
		snprintf(w, sizeof(w), "%s.%s", where, key);
		return bad(x, n, w, "must be a non-empty string");
	}
	free(*out);
	*out = strdup(n->u.str.s);
	if (*out == NULL)
		return tm_error_set(x->err, "internal.nomem", "out of memory");
	return 0;
}

static int resolve(struct cfgctx *x, char **p)
{
	if (*p == NULL || (*p)[0] == '/' || x->base == NULL)
		return 0;
	size_t n = strlen(x->base) + strlen(*p) + 2;
	char *r = malloc(n);
	if (r == NULL)
		return tm_error_set(x->err, "internal.nomem", "out of memory");
	snprintf(r, n, "%s/%s", x->base, *p);
	free(*p);
	*p = r;
	return 0;
}

static int get_path(struct cfgctx *x, const struct tm_node *map, const char *key,
		    const char *where, bool required, char **out)
{
	if (get_str(x, map, key, where, required, out) != 0)
		return -1;
	return resolve(x, out);
}

static int get_int(struct cfgctx *x, const struct tm_node *map, const char *key,
		   const char *where, int64_t min, int64_t max, int64_t *out)
{
	const struct tm_node *n = tm_node_get(map, key);
	if (n == NULL || n->type == TM_NODE_NULL)
		return 0;
	char w[160];
	snprintf(w, sizeof(w), "%s.%s", where, key);
	if (n->type != TM_NODE_INT)
		return bad(x, n, w, "must be an integer");
	if (n->u.i < min || n->u.i > max) {
		char m[96];
		snprintf(m, sizeof(m), "must be between %lld and %lld", (long long)min, (long long)max);
		return bad(x, n, w, m);
	}
	*out = n->u.i;
	return 0;
}

static int get_bool(struct cfgctx *x, const struct tm_node *map, const char *key,
		    const char *where, bool *out)
{
	const struct tm_node *n = tm_node_get(map, key);
	if (n == NULL || n->type == TM_NODE_NULL)
		return 0;
	if (n->type != TM_NODE_BOOL) {
		char w[160];
		snprintf(w, sizeof(w), "%s.%s", where, key);
		return bad(x, n, w, "must be true or false");
	}
	*out = n->u.b;
	return 0;
}

/* A duration: integer seconds or "<n>s|m|h|d". */
static int get_dur(struct cfgctx *x, const struct tm_node *map, const char *key,
		   const char *where, int64_t min, int64_t max, int64_t *out)
{
	const struct tm_node *n = tm_node_get(map, key);
	if (n == NULL || n->type == TM_NODE_NULL)
		return 0;
	char w[160];
	snprintf(w, sizeof(w), "%s.%s", where, key);
	int64_t v;
	if (n->type == TM_NODE_INT) {
		v = n->u.i;
	} else if (n->type == TM_NODE_STRING) {
		const char *s = n->u.str.s;
		char *end;
		if (!isdigit((unsigned char)s[0]))
			return bad(x, n, w, "must be a duration like 90s, 15m, 8h or 1d");
		long long num = strtoll(s, &end, 10);
		int64_t mul;
		if (strcmp(end, "s") == 0 || *end == '\0')
			mul = 1;
		else if (strcmp(end, "m") == 0)
			mul = 60;
		else if (strcmp(end, "h") == 0)
			mul = 3600;
		else if (strcmp(end, "d") == 0)
			mul = 86400;
		else
			return bad(x, n, w, "must be a duration like 90s, 15m, 8h or 1d");
		if (num > INT64_MAX / mul / 2)
			return bad(x, n, w, "duration too long");
		v = num * mul;
	} else {
		return bad(x, n, w, "must be a duration like 90s, 15m, 8h or 1d");
	}
	if (v < min || v > max) {
		char m[96];
		snprintf(m, sizeof(m), "must be between %llds and %llds", (long long)min, (long long)max);
		return bad(x, n, w, m);
	}
	*out = v;
	return 0;
}

static const char *const k_top[] = { "identity", "gateway", "smtp", "schedule", "thresholds",
	"outbox", "state_directory", "collectors", NULL };
static const char *const k_identity[] = { "role", "certificate", "key", "chain", "mailbox",
	"detached_signature", NULL };
static const char *const k_gateway[] = { "mailbox", "certificates", NULL };
static const char *const k_smtp[] = { "relays", "port", "starttls", "plain", "ca_file", "auth",
	"timeout", "envelope_sender", "helo", "retry_initial", "retry_max", "max_reply_bytes",
	"batch", NULL };
static const char *const k_relay[] = { "host", "port", NULL };
static const char *const k_auth[] = { "mechanism", "username", "password_file", NULL };
static const char *const k_schedule[] = { "counters", "heartbeat", "supply_check", "jitter",
	"events", NULL };
static const char *const k_thresholds[] = { "supply_low", "supply_low_by", "hysteresis",
	"part_life_warning", NULL };
static const char *const k_outbox[] = { "directory", "max_count", "max_bytes", NULL };
static const char *const k_coll[] = { "type", "path", "host", "port", "version", "community",
	"user", "auth_protocol", "auth_password_file", "priv_protocol", "priv_password_file",
	"timeout_ms", "retries", "serial", NULL };

static int parse_identity(struct cfgctx *x, const struct tm_node *n, struct ag_config *c)
{
	if (n == NULL)
		return tm_error_set(x->err, "config.missing_key", "identity is required");
	if (check_keys(x, n, "identity", k_identity) != 0)
		return -1;
	char *role = NULL;
	if (get_str(x, n, "role", "identity", false, &role) != 0)
		return -1;
	int rc = 0;
	if (role == NULL || strcmp(role, "device") == 0)
		c->role = AG_ROLE_DEVICE;
	else if (strcmp(role, "collector") == 0)
		c->role = AG_ROLE_COLLECTOR;
	else
		rc = bad(x, tm_node_get(n, "role"), "identity.role", "must be device or collector");
	free(role);
	if (rc != 0)
		return rc;
	if (get_path(x, n, "certificate", "identity", true, &c->cert) != 0 ||
	    get_path(x, n, "key", "identity", true, &c->key) != 0 ||
	    get_path(x, n, "chain", "identity", false, &c->chain) != 0 ||
	    get_str(x, n, "mailbox", "identity", true, &c->mailbox) != 0 ||
	    get_bool(x, n, "detached_signature", "identity", &c->detached) != 0)
		return -1;
	if (!tm_mailbox_ok(c->mailbox))
		return bad(x, tm_node_get(n, "mailbox"), "identity.mailbox", "must be an address local@domain");
	return 0;
}

static int parse_gateway(struct cfgctx *x, const struct tm_node *n, struct ag_config *c)
{
	if (n == NULL)
		return tm_error_set(x->err, "config.missing_key", "gateway is required");
	if (check_keys(x, n, "gateway", k_gateway) != 0 ||
	    get_str(x, n, "mailbox", "gateway", true, &c->gw_mailbox) != 0)
		return -1;
	if (!tm_mailbox_ok(c->gw_mailbox))
		return bad(x, tm_node_get(n, "mailbox"), "gateway.mailbox", "must be an address local@domain");
	const struct tm_node *l = tm_node_get(n, "certificates");
	if (l == NULL)
		return tm_error_set(x->err, "config.missing_key", "line %u: gateway.certificates is required", n->line);
	if (l->type != TM_NODE_SEQ || l->u.seq.n == 0)
		return bad(x, l, "gateway.certificates", "must be a non-empty list of PEM files");
	if (l->u.seq.n > AG_MAX_GW_CERTS)
		return bad(x, l, "gateway.certificates", "more than 8 certificates");
	for (size_t i = 0; i < l->u.seq.n; i++) {
		const struct tm_node *it = l->u.seq.items[i];
		if (it->type != TM_NODE_STRING || it->u.str.len == 0)
			return bad(x, it, "gateway.certificates", "each entry must be a file name");
		c->gw_certs[i] = strdup(it->u.str.s);
		c->n_gw_certs = i + 1;
		if (c->gw_certs[i] == NULL || resolve(x, &c->gw_certs[i]) != 0)
			return tm_error_set(x->err, "internal.nomem", "out of memory");
	}
	return 0;
}

static int parse_relay(struct cfgctx *x, const struct tm_node *it, struct ag_relay *r)
{
	int64_t port = 0;
	if (it->type == TM_NODE_STRING) {
		r->host = strdup(it->u.str.s);
	} else {
		if (check_keys(x, it, "smtp.relays[]", k_relay) != 0 ||
		    get_str(x, it, "host", "smtp.relays[]", true, &r->host) != 0 ||
		    get_int(x, it, "port", "smtp.relays[]", 1, 65535, &port) != 0)
			return -1;
	}
	if (r->host == NULL)
		return tm_error_set(x->err, "internal.nomem", "out of memory");
	if (r->host[0] == '\0' || strlen(r->host) > 253 || strpbrk(r->host, " \t/:@") != NULL)
		return bad(x, it, "smtp.relays[].host", "must be a host name or IPv4 address");
	r->port = (int)port;
	return 0;
}

static int parse_smtp(struct cfgctx *x, const struct tm_node *n, struct ag_config *c)
{
	struct ag_smtp_config *s = &c->smtp;
	if (n == NULL)
		return tm_error_set(x->err, "config.missing_key", "smtp is required");
	if (check_keys(x, n, "smtp", k_smtp) != 0)
		return -1;
	const struct tm_node *l = tm_node_get(n, "relays");
	if (l == NULL)
		return tm_error_set(x->err, "config.missing_key", "line %u: smtp.relays is required", n->line);
	if (l->type != TM_NODE_SEQ || l->u.seq.n == 0)
		return bad(x, l, "smtp.relays", "must be a non-empty list");
	if (l->u.seq.n > AG_MAX_RELAYS)
		return bad(x, l, "smtp.relays", "at most 5 relays");
	for (size_t i = 0; i < l->u.seq.n; i++) {
		s->n_relays = i + 1;
		if (parse_relay(x, l->u.seq.items[i], &s->relays[i]) != 0)
			return -1;
	}
	int64_t port = 25, timeout = 60, maxr = 65536, batch = 16;
	bool starttls = true, plain = false;
	if (get_int(x, n, "port", "smtp", 1, 65535, &port) != 0 ||
	    get_bool(x, n, "starttls", "smtp", &starttls) != 0 ||
	    get_bool(x, n, "plain", "smtp", &plain) != 0 ||
	    get_path(x, n, "ca_file", "smtp", false, &s->ca_file) != 0 ||
	    get_dur(x, n, "timeout", "smtp", 1, 3600, &timeout) != 0 ||
	    get_str(x, n, "envelope_sender", "smtp", false, &s->envelope_sender) != 0 ||
	    get_str(x, n, "helo", "smtp", false, &s->helo) != 0 ||
	    get_dur(x, n, "retry_initial", "smtp", 1, 86400, &s->retry_initial) != 0 ||
	    get_dur(x, n, "retry_max", "smtp", 1, 7 * 86400, &s->retry_max) != 0 ||
	    get_int(x, n, "max_reply_bytes", "smtp", 4096, 16 << 20, &maxr) != 0 ||
	    get_int(x, n, "batch", "smtp", 1, 256, &batch) != 0)
		return -1;
	s->port = (int)port;
	s->timeout = (int)timeout;
	s->max_reply_bytes = (size_t)maxr;
	s->batch = (size_t)batch;
	if (s->retry_max < s->retry_initial)
		return bad(x, n, "smtp.retry_max", "must not be smaller than retry_initial");
	/* No silent downgrade: plain SMTP only by the explicit opt-in plain: true. */
	if (!starttls && !plain)
		return bad(x, tm_node_get(n, "starttls"), "smtp.starttls",
			   "false needs plain: true (explicit opt-in for a closed segment)");
	if (starttls && plain)
		return bad(x, tm_node_get(n, "plain"), "smtp.plain", "contradicts starttls: true");
	s->tls = plain ? AG_TLS_NONE : AG_TLS_REQUIRED;
	if (s->tls == AG_TLS_REQUIRED && s->ca_file == NULL)
		return tm_error_set(x->err, "config.missing_key",
				    "line %u: smtp.ca_file is required with STARTTLS (the CA that signed the relay certificate)",
				    n->line);
	if (s->envelope_sender && !tm_mailbox_ok(s->envelope_sender))
		return bad(x, tm_node_get(n, "envelope_sender"), "smtp.envelope_sender", "must be an address local@domain");
	const struct tm_node *a = tm_node_get(n, "auth");
	if (a != NULL && a->type != TM_NODE_NULL) {
		if (check_keys(x, a, "smtp.auth", k_auth) != 0)
			return -1;
		char *mech = NULL;
		if (get_str(x, a, "mechanism", "smtp.auth", false, &mech) != 0)
			return -1;
		int rc = 0;
		if (mech == NULL || strcasecmp(mech, "plain") == 0)
			s->auth = AG_AUTH_PLAIN;
		else if (strcasecmp(mech, "login") == 0)
			s->auth = AG_AUTH_LOGIN;
		else
			rc = bad(x, tm_node_get(a, "mechanism"), "smtp.auth.mechanism", "must be PLAIN or LOGIN");
		free(mech);
		if (rc != 0 || get_str(x, a, "username", "smtp.auth", true, &s->username) != 0 ||
		    get_path(x, a, "password_file", "smtp.auth", true, &s->password_file) != 0)
			return -1;
		if (s->tls != AG_TLS_REQUIRED)
			return bad(x, a, "smtp.auth", "AUTH is only allowed over TLS (plain: true forbids it)");
	}
	return 0;
}

static int parse_schedule(struct cfgctx *x, const struct tm_node *n, struct ag_config *c)
{
	if (n == NULL)
		return 0;
	if (check_keys(x, n, "schedule", k_schedule) != 0 ||
	    get_dur(x, n, "counters", "schedule", 1, 31 * 86400, &c->every_counters) != 0 ||
	    get_dur(x, n, "heartbeat", "schedule", 0, 31 * 86400, &c->every_heartbeat) != 0 ||
	    get_dur(x, n, "supply_check", "schedule", 1, 86400, &c->every_supply_check) != 0 ||
	    get_dur(x, n, "jitter", "schedule", 0, 86400, &c->jitter) != 0 ||
	    get_bool(x, n, "events", "schedule", &c->events) != 0)
		return -1;
	return 0;
}

static int parse_thresholds(struct cfgctx *x, const struct tm_node *n, struct ag_config *c)
{
	if (n == NULL)
		return 0;
	int64_t low = c->supply_low, hyst = c->hysteresis, part = c->part_life_warning;
	if (check_keys(x, n, "thresholds", k_thresholds) != 0 ||
	    get_int(x, n, "supply_low", "thresholds", 0, 100, &low) != 0 ||
	    get_int(x, n, "hysteresis", "thresholds", 0, 50, &hyst) != 0 ||
	    get_int(x, n, "part_life_warning", "thresholds", 1, 1000, &part) != 0)
		return -1;
	c->supply_low = (int)low;
	c->hysteresis = (int)hyst;
	c->part_life_warning = (int)part;
	const struct tm_node *by = tm_node_get(n, "supply_low_by");
	if (by == NULL || by->type == TM_NODE_NULL)
		return 0;
	if (by->type != TM_NODE_MAP)
		return bad(x, by, "thresholds.supply_low_by", "must map a supply type or colorant to a percent");
	if (by->u.map.n > AG_MAX_THRESHOLDS)
		return bad(x, by, "thresholds.supply_low_by", "more than 32 entries");
	for (size_t i = 0; i < by->u.map.n; i++) {
		const struct tm_node_pair *p = &by->u.map.pairs[i];
		if (p->value->type != TM_NODE_INT || p->value->u.i < 0 || p->value->u.i > 100) {
			char w[160];
			snprintf(w, sizeof(w), "thresholds.supply_low_by.%s", p->key);
			return bad(x, p->value, w, "must be a percent 0..100");
		}
		c->supply_low_by[i].match = strdup(p->key);
		c->supply_low_by[i].percent = (int)p->value->u.i;
		c->n_supply_low_by = i + 1;
		if (c->supply_low_by[i].match == NULL)
			return tm_error_set(x->err, "internal.nomem", "out of memory");
	}
	return 0;
}

static int parse_outbox(struct cfgctx *x, const struct tm_node *n, struct ag_config *c)
{
	if (n == NULL)
		return tm_error_set(x->err, "config.missing_key", "outbox is required");
	int64_t cnt = (int64_t)c->outbox_max_count, bytes = (int64_t)c->outbox_max_bytes;
	if (check_keys(x, n, "outbox", k_outbox) != 0 ||
	    get_path(x, n, "directory", "outbox", true, &c->outbox_dir) != 0 ||
	    get_int(x, n, "max_count", "outbox", 2, 1000000, &cnt) != 0 ||
	    get_int(x, n, "max_bytes", "outbox", 65536, (int64_t)1 << 40, &bytes) != 0)
		return -1;
	c->outbox_max_count = (size_t)cnt;
	c->outbox_max_bytes = (uint64_t)bytes;
	c->outbox_count_set = tm_node_get(n, "max_count") != NULL;
	c->outbox_bytes_set = tm_node_get(n, "max_bytes") != NULL;
	return 0;
}

uint64_t ag_config_outbox_need(const struct ag_config *c)
{
	const int64_t span = AG_OUTBOX_HOLD_SECONDS;
	int64_t per_device = (span + c->every_counters - 1) / c->every_counters;
	if (c->every_heartbeat > 0)
		per_device += (span + c->every_heartbeat - 1) / c->every_heartbeat;
	return (uint64_t)per_device * (c->n_collectors ? c->n_collectors : 1);
}

/* Unless set, the outbox holds AG_OUTBOX_HOLD_SECONDS of scheduled reports
 * (counters and heartbeats) of every configured device, at least the
 * fixed defaults. */
static void size_outbox(struct ag_config *c)
{
	uint64_t need = ag_config_outbox_need(c);
	if (!c->outbox_count_set && need > c->outbox_max_count)
		c->outbox_max_count = need > 1000000 ? 1000000 : (size_t)need;
	if (!c->outbox_bytes_set && need * AG_OUTBOX_REPORT_BYTES > c->outbox_max_bytes)
		c->outbox_max_bytes = need * AG_OUTBOX_REPORT_BYTES;
}

int ag_config_outbox_warning(const struct ag_config *c, char *buf, size_t cap)
{
	uint64_t need = ag_config_outbox_need(c);
	buf[0] = '\0';
	if (c->outbox_max_count >= need && c->outbox_max_bytes >= need * AG_OUTBOX_REPORT_BYTES)
		return 0;
	snprintf(buf, cap,
		 "outbox (max_count %zu, max_bytes %llu) holds less than three days of scheduled reports "
		 "for %zu devices: %llu reports, about %llu bytes; older reports would be dropped while "
		 "the relay is down",
		 c->outbox_max_count, (unsigned long long)c->outbox_max_bytes, c->n_collectors,
		 (unsigned long long)need, (unsigned long long)(need * AG_OUTBOX_REPORT_BYTES));
	return 1;
}

static int parse_collector(struct cfgctx *x, const struct tm_node *n, struct ag_collector_config *k)
{
	const char *w = "collectors[]";
	if (check_keys(x, n, w, k_coll) != 0)
		return -1;
	char *type = NULL;
	if (get_str(x, n, "type", w, true, &type) != 0)
		return -1;
	int rc = 0;
	if (strcmp(type, "file") == 0)
		k->type = AG_COLLECT_FILE;
	else if (strcmp(type, "snmp") == 0)
		k->type = AG_COLLECT_SNMP;
	else
		rc = bad(x, tm_node_get(n, "type"), "collectors[].type", "must be file or snmp");
	free(type);
	if (rc != 0)
		return rc;
	int64_t port = 161, version = 2, tmo = 2000, retries = 1;
	if (get_str(x, n, "serial", w, false, &k->serial) != 0)
		return -1;
	if (k->type == AG_COLLECT_FILE)
		return get_path(x, n, "path", w, true, &k->path);
	if (get_str(x, n, "host", w, true, &k->host) != 0 ||
	    get_int(x, n, "port", w, 1, 65535, &port) != 0 ||
	    get_int(x, n, "version", w, 2, 3, &version) != 0 ||
	    get_int(x, n, "timeout_ms", w, 50, 60000, &tmo) != 0 ||
	    get_int(x, n, "retries", w, 0, 5, &retries) != 0 ||
	    get_str(x, n, "community", w, false, &k->community) != 0 ||
	    get_str(x, n, "user", w, false, &k->user) != 0 ||
	    get_str(x, n, "auth_protocol", w, false, &k->auth_protocol) != 0 ||
	    get_path(x, n, "auth_password_file", w, false, &k->auth_password_file) != 0 ||
	    get_str(x, n, "priv_protocol", w, false, &k->priv_protocol) != 0 ||
	    get_path(x, n, "priv_password_file", w, false, &k->priv_password_file) != 0)
		return -1;
	k->port = (int)port;
	k->version = (int)version;
	k->timeout_ms = (int)tmo;
	k->retries = (int)retries;
	if (k->version == 2 && k->community == NULL)
		return tm_error_set(x->err, "config.missing_key", "line %u: collectors[].community is required for SNMP v2c", n->line);
	if (k->version == 3 && (k->user == NULL || k->auth_password_file == NULL || k->priv_password_file == NULL))
		return tm_error_set(x->err, "config.missing_key",
				    "line %u: SNMP v3 needs user, auth_password_file and priv_password_file (authPriv)", n->line);
	static const char *const auths[] = { "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512", NULL };
	bool aok = k->auth_protocol == NULL;
	for (const char *const *a = auths; !aok && *a; a++)
		aok = strcmp(*a, k->auth_protocol) == 0;
	if (!aok)
		return bad(x, tm_node_get(n, "auth_protocol"), "collectors[].auth_protocol",
			   "must be SHA, SHA-224, SHA-256, SHA-384 or SHA-512");
	if (k->priv_protocol != NULL && strcmp(k->priv_protocol, "AES") != 0)
		return bad(x, tm_node_get(n, "priv_protocol"), "collectors[].priv_protocol", "must be AES");
	if (strpbrk(k->host, " \t/@:") != NULL || strlen(k->host) > 253)
		return bad(x, tm_node_get(n, "host"), "collectors[].host", "must be a host name or IPv4 address");
	return 0;
}

static int parse_collectors(struct cfgctx *x, const struct tm_node *n, struct ag_config *c)
{
	if (n == NULL)
		return tm_error_set(x->err, "config.missing_key", "collectors is required");
	if (n->type != TM_NODE_SEQ || n->u.seq.n == 0)
		return bad(x, n, "collectors", "must be a non-empty list");
	if (n->u.seq.n > AG_MAX_COLLECTORS)
		return bad(x, n, "collectors", "more than 1024 collectors");
	c->collectors = calloc(n->u.seq.n, sizeof(*c->collectors));
	if (c->collectors == NULL)
		return tm_error_set(x->err, "internal.nomem", "out of memory");
	for (size_t i = 0; i < n->u.seq.n; i++) {
		c->n_collectors = i + 1;
		if (parse_collector(x, n->u.seq.items[i], &c->collectors[i]) != 0)
			return -1;
	}
	if (c->role == AG_ROLE_DEVICE && c->n_collectors != 1)
		return bad(x, n, "collectors", "the device role has exactly one collector (use role: collector for several devices)");
	return 0;
}

int ag_config_parse(const uint8_t *buf, size_t len, const char *base_dir,
		    struct ag_config **out, struct tm_error *err)
{
	struct tm_node *root = NULL;
	struct ag_config *c = calloc(1, sizeof(*c));
	struct cfgctx x = { base_dir, err };
	int rc = -1;
	*out = NULL;
	if (c == NULL) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	c->every_counters = 8 * 3600;
	c->every_heartbeat = 3600;
	c->every_supply_check = 900;
	c->jitter = 300;
	c->events = true;
	c->supply_low = 10;
	c->hysteresis = 5;
	c->part_life_warning = 90;
	c->outbox_max_count = 1000;
	c->outbox_max_bytes = 64u << 20;
	c->smtp.retry_initial = 60;
	c->smtp.retry_max = 3600;
	if (tm_yaml_read(buf, len, &TM_YAML_CONFIG_LIMITS, &root, err) != 0) {
		/* a configuration error, not a report's: the YAML reader's message
		 * (line, column, what) under config.syntax, as the gateway does */
		tm_error_set(err, "config.syntax", "%s", err->msg);
		goto out;
	}
	if (check_keys(&x, root, "config", k_top) != 0 ||
	    parse_identity(&x, tm_node_get(root, "identity"), c) != 0 ||
	    parse_gateway(&x, tm_node_get(root, "gateway"), c) != 0 ||
	    parse_smtp(&x, tm_node_get(root, "smtp"), c) != 0 ||
	    parse_schedule(&x, tm_node_get(root, "schedule"), c) != 0 ||
	    parse_thresholds(&x, tm_node_get(root, "thresholds"), c) != 0 ||
	    parse_outbox(&x, tm_node_get(root, "outbox"), c) != 0 ||
	    get_path(&x, root, "state_directory", "config", true, &c->state_dir) != 0 ||
	    parse_collectors(&x, tm_node_get(root, "collectors"), c) != 0)
		goto out;
	size_outbox(c);
	if (c->smtp.envelope_sender == NULL && (c->smtp.envelope_sender = strdup(c->mailbox)) == NULL) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	*out = c;
	c = NULL;
	rc = 0;
out:
	tm_node_free(root);
	ag_config_free(c);
	return rc;
}

int ag_config_load(const char *path, struct ag_config **out, struct tm_error *err)
{
	struct tm_buf b;
	tm_buf_init(&b);
	char *dcopy = strdup(path);
	int rc = -1;
	*out = NULL;
	if (dcopy == NULL) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	if (tm_buf_read_file(&b, path, CONFIG_MAX_BYTES, err) != 0)
		goto out;
	if (ag_config_parse(b.data, b.len, dirname(dcopy), out, err) != 0) {
		tm_error_prefix(err, "%s", path);
		goto out;
	}
	(*out)->path = strdup(path);
	rc = 0;
out:
	free(dcopy);
	tm_buf_fini(&b);
	return rc;
}

void ag_config_free(struct ag_config *c)
{
	if (c == NULL)
		return;
	free(c->path);
	free(c->cert);
	free(c->key);
	free(c->chain);
	free(c->mailbox);
	free(c->gw_mailbox);
	for (size_t i = 0; i < c->n_gw_certs; i++)
		free(c->gw_certs[i]);
	for (size_t i = 0; i < c->smtp.n_relays; i++)
		free(c->smtp.relays[i].host);
	free(c->smtp.ca_file);
	free(c->smtp.username);
	free(c->smtp.password_file);
	free(c->smtp.envelope_sender);
	free(c->smtp.helo);
	for (size_t i = 0; i < c->n_supply_low_by; i++)
		free(c->supply_low_by[i].match);
	free(c->outbox_dir);
	free(c->state_dir);
	for (size_t i = 0; i < c->n_collectors; i++) {
		struct ag_collector_config *k = &c->collectors[i];
		free(k->path);
		free(k->host);
		free(k->community);
		free(k->user);
		free(k->auth_protocol);
		free(k->auth_password_file);
		free(k->priv_protocol);
		free(k->priv_password_file);
		free(k->serial);
	}
	free(c->collectors);
	free(c);
}

int ag_config_supply_low(const struct ag_config *c, const char *type, const char *colorant)
{
	for (size_t i = 0; colorant && i < c->n_supply_low_by; i++)
		if (strcasecmp(c->supply_low_by[i].match, colorant) == 0)
			return c->supply_low_by[i].percent;
	for (size_t i = 0; type && i < c->n_supply_low_by; i++)
		if (strcasecmp(c->supply_low_by[i].match, type) == 0)
			return c->supply_low_by[i].percent;
	return c->supply_low;
}
