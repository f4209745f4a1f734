/* telemail-agent — configuration: YAML tree (tm_yaml_read) → struct ag_config,
 * read by the shared reader (telemail/config_map.h) from one table per
 * section. Unknown keys, wrong types and values out of range are errors
 * naming the line and the key path; smtp.relays and thresholds.supply_low_by
 * keep small readers of their own, called from their tables. */
#include <ctype.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <telemail/buf.h>
#include <telemail/config_map.h>
#include <telemail/error.h>
#include <telemail/node.h>

#include "config.h"

#define CONFIG_MAX_BYTES (1u << 20)

#define CFG(m) TM_CONF_FIELD(struct ag_config, m)
#define SMTP(m) TM_CONF_FIELD(struct ag_config, smtp.m)
#define COLL(m) TM_CONF_FIELD(struct ag_collector_config, m)
#define BAD(c, at, path, ...) tm_conf_fail(c, at, "config.bad_value", path, __VA_ARGS__)

static bool host_ok(const char *h)
{
	return h[0] != '\0' && strlen(h) <= 253 && strpbrk(h, " \t/:@") == NULL;
}

/* ---- identity, gateway ---- */

static const struct tm_conf_choice roles[] = {
	{ "device", AG_ROLE_DEVICE }, { "collector", AG_ROLE_COLLECTOR }, { NULL, 0 },
};

static const struct tm_conf_entry identity_keys[] = {
	TM_CONF_KEY("role", TM_CONF_ENUM, "device", 0, 0, 0, CFG(role),
		    "device (one printer) or collector (many)", .choices = roles),
	TM_CONF_KEY("certificate", TM_CONF_PATH, NULL, TM_CONF_REQUIRED, 0, 0, CFG(cert),
		    "the signing certificate (PEM)"),
	TM_CONF_KEY("key", TM_CONF_PATH, NULL, TM_CONF_REQUIRED, 0, 0, CFG(key), "its private key"),
	TM_CONF_KEY("chain", TM_CONF_PATH, NULL, 0, 0, 0, CFG(chain),
		    "intermediate certificates sent with the signature"),
	TM_CONF_KEY("mailbox", TM_CONF_ADDRESS, NULL, TM_CONF_REQUIRED, 0, 0, CFG(mailbox),
		    "From: of the reports"),
	TM_CONF_KEY("detached_signature", TM_CONF_BOOL, "false", 0, 0, 0, CFG(detached),
		    "multipart/signed instead of opaque signed-data"),
};
static const struct tm_conf_section identity_section = TM_CONF_TABLE(identity_keys, NULL);

static const struct tm_conf_entry gateway_keys[] = {
	TM_CONF_KEY("mailbox", TM_CONF_ADDRESS, NULL, TM_CONF_REQUIRED, 0, 0, CFG(gw_mailbox),
		    "To: of the reports"),
	TM_CONF_KEY("certificates", TM_CONF_LIST, NULL, TM_CONF_REQUIRED | TM_CONF_INLINE, 1,
		    AG_MAX_GW_CERTS, CFG(gw_certs), "the gateway's certificates to encrypt to (PEM)",
		    .of = TM_CONF_PATH, .count_offset = offsetof(struct ag_config, n_gw_certs)),
};
static const struct tm_conf_section gateway_section = TM_CONF_TABLE(gateway_keys, NULL);

/* ---- smtp ---- */

static const struct tm_conf_entry relay_keys[] = {
	TM_CONF_KEY("host", TM_CONF_STRING, NULL, TM_CONF_REQUIRED, 0, 253,
		    TM_CONF_FIELD(struct ag_relay, host), "host name or IPv4 address"),
	TM_CONF_KEY("port", TM_CONF_INT, "0", 0, 1, 65535, TM_CONF_FIELD(struct ag_relay, port),
		    "0: smtp.port"),
};
static const struct tm_conf_section relay_section = TM_CONF_TABLE(relay_keys, NULL);

/* smtp.relays: a list of host names, or of {host, port}. */
static int read_relays(const struct tm_conf_ctx *c, const struct tm_node *l, const char *path,
		       void *obj)
{
	struct ag_smtp_config *s = &((struct ag_config *)obj)->smtp;
	if (l->type != TM_NODE_SEQ || l->u.seq.n == 0)
		return BAD(c, l, path, "must be a non-empty list");
	if (l->u.seq.n > AG_MAX_RELAYS)
		return BAD(c, l, path, "at most 5 relays");
	for (size_t i = 0; i < l->u.seq.n; i++) {
		const struct tm_node *it = l->u.seq.items[i];
		struct ag_relay *r = &s->relays[i];
		char at[64];
		snprintf(at, sizeof(at), "%s[%zu]", path, i);
		s->n_relays = i + 1;
		if (it->type == TM_NODE_STRING) {
			if (tm_conf_string(c, it, at, 253, &r->host) < 0)
				return -1;
		} else if (tm_conf_read(c, &relay_section, it, at, r) < 0) {
			return -1;
		}
		if (!host_ok(r->host))
			return BAD(c, it, at, "must be a host name or IPv4 address");
	}
	return 0;
}

static const struct tm_conf_choice mechanisms[] = {
	{ "PLAIN", AG_AUTH_PLAIN }, { "LOGIN", AG_AUTH_LOGIN }, { NULL, 0 },
};

static int check_auth(const struct tm_conf_ctx *c, const struct tm_node *n, const char *path,
		      void *obj)
{
	struct ag_smtp_config *s = obj;
	(void)c, (void)path;
	if (tm_node_get(n, "mechanism") == NULL)
		s->auth = AG_AUTH_PLAIN;
	return 0;
}

static const struct tm_conf_entry auth_keys[] = {
	TM_CONF_KEY("mechanism", TM_CONF_ENUM, "PLAIN", TM_CONF_DEF_DOC | TM_CONF_NOCASE, 0, 0,
		    TM_CONF_FIELD(struct ag_smtp_config, auth), "SASL mechanism",
		    .choices = mechanisms),
	TM_CONF_KEY("username", TM_CONF_STRING, NULL, TM_CONF_REQUIRED, 0, 0,
		    TM_CONF_FIELD(struct ag_smtp_config, username), "AUTH user name"),
	TM_CONF_KEY("password_file", TM_CONF_PATH, NULL, TM_CONF_REQUIRED, 0, 0,
		    TM_CONF_FIELD(struct ag_smtp_config, password_file), "the password, in a file"),
};
static const struct tm_conf_section auth_section = TM_CONF_TABLE(auth_keys, check_auth);

static int check_smtp(const struct tm_conf_ctx *c, const struct tm_node *n, const char *path,
		      void *obj)
{
	struct ag_smtp_config *s = &((struct ag_config *)obj)->smtp;
	(void)path;
	if (s->retry_max < s->retry_initial)
		return BAD(c, n, "smtp.retry_max", "must not be smaller than retry_initial");
	/* No silent downgrade: plain SMTP only by the explicit opt-in plain: true. */
	if (!s->starttls && !s->plain)
		return BAD(c, tm_node_get(n, "starttls"), "smtp.starttls",
			   "false needs plain: true (explicit opt-in for a closed segment)");
	if (s->starttls && s->plain)
		return BAD(c, tm_node_get(n, "plain"), "smtp.plain", "contradicts starttls: true");
	s->tls = s->plain ? AG_TLS_NONE : AG_TLS_REQUIRED;
	if (s->tls == AG_TLS_REQUIRED && s->ca_file == NULL)
		return tm_conf_fail(c, n, "config.missing_key", "smtp.ca_file",
				    "required with STARTTLS (the CA that signed the relay certificate)");
	const struct tm_node *a = tm_node_get(n, "auth");
	if (a != NULL && a->type != TM_NODE_NULL && s->tls != AG_TLS_REQUIRED)
		return BAD(c, a, "smtp.auth", "AUTH is only allowed over TLS (plain: true forbids it)");
	return 0;
}

static const struct tm_conf_entry smtp_keys[] = {
	TM_CONF_KEY("relays", TM_CONF_CUSTOM, NULL, TM_CONF_REQUIRED, 0, 0, TM_CONF_NOFIELD,
		    "host names, or {host, port}; tried in order (at most 5)",
		    .read = read_relays, .type_name = "list(relay)"),
	TM_CONF_KEY("port", TM_CONF_INT, "25", 0, 1, 65535, SMTP(port), "the relays' port"),
	TM_CONF_KEY("starttls", TM_CONF_BOOL, "true", 0, 0, 0, SMTP(starttls),
		    "false needs plain: true"),
	TM_CONF_KEY("plain", TM_CONF_BOOL, "false", 0, 0, 0, SMTP(plain),
		    "no TLS: the explicit opt-in for a closed segment"),
	TM_CONF_KEY("ca_file", TM_CONF_PATH, NULL, 0, 0, 0, SMTP(ca_file),
		    "CA of the relay's certificate (required with STARTTLS)"),
	TM_CONF_KEY("timeout", TM_CONF_DURATION, "60s", 0, 1, 3600, SMTP(timeout),
		    "per protocol step"),
	TM_CONF_KEY("envelope_sender", TM_CONF_ADDRESS, "(identity.mailbox)", TM_CONF_DEF_DOC, 0, 0,
		    SMTP(envelope_sender), "MAIL FROM"),
	TM_CONF_KEY("helo", TM_CONF_STRING, "(the host name)", TM_CONF_DEF_DOC, 0, 0, SMTP(helo),
		    "EHLO name"),
	TM_CONF_KEY("retry_initial", TM_CONF_DURATION, "1m", 0, 1, 86400, SMTP(retry_initial),
		    "first wait after a failed session, doubling"),
	TM_CONF_KEY("retry_max", TM_CONF_DURATION, "1h", 0, 1, 7 * 86400, SMTP(retry_max),
		    "the longest wait"),
	TM_CONF_KEY("max_reply_bytes", TM_CONF_SIZE, "65536", 0, 4096, 16 << 20,
		    SMTP(max_reply_bytes), "bytes read from one relay in one session"),
	TM_CONF_KEY("batch", TM_CONF_SIZE, "16", 0, 1, 256, SMTP(batch), "messages per session"),
	TM_CONF_KEY("auth", TM_CONF_SECTION, NULL, 0, 0, 0, CFG(smtp), NULL,
		    .section = &auth_section),
};
static const struct tm_conf_section smtp_section = TM_CONF_TABLE(smtp_keys, check_smtp);

/* ---- schedule, thresholds, outbox ---- */

static const struct tm_conf_entry schedule_keys[] = {
	TM_CONF_KEY("counters", TM_CONF_DURATION, "8h", 0, 1, 31 * 86400, CFG(every_counters),
		    "counter reports"),
	TM_CONF_KEY("heartbeat", TM_CONF_DURATION, "1h", 0, 0, 31 * 86400, CFG(every_heartbeat),
		    "heartbeats (0s: none)"),
	TM_CONF_KEY("supply_check", TM_CONF_DURATION, "15m", 0, 1, 86400, CFG(every_supply_check),
		    "supply levels are checked this often"),
	TM_CONF_KEY("jitter", TM_CONF_DURATION, "5m", 0, 0, 86400, CFG(jitter),
		    "random delay spread over the fleet"),
	TM_CONF_KEY("events", TM_CONF_BOOL, "true", 0, 0, 0, CFG(events),
		    "report alerts as they happen"),
};
static const struct tm_conf_section schedule_section = TM_CONF_TABLE(schedule_keys, NULL);

/* thresholds.supply_low_by: supply type or colorant → percent. */
static int read_supply_low_by(const struct tm_conf_ctx *c, const struct tm_node *by,
			      const char *path, void *obj)
{
	struct ag_config *cfg = obj;
	if (by->type != TM_NODE_MAP)
		return BAD(c, by, path, "must map a supply type or colorant to a percent");
	if (by->u.map.n > AG_MAX_THRESHOLDS)
		return BAD(c, by, path, "more than 32 entries");
	for (size_t i = 0; i < by->u.map.n; i++) {
		const struct tm_node_pair *p = &by->u.map.pairs[i];
		if (p->value->type != TM_NODE_INT || p->value->u.i < 0 || p->value->u.i > 100) {
			char w[160];
			snprintf(w, sizeof(w), "%s.%.100s", path, p->key);
			return BAD(c, p->value, w, "must be a percent 0..100");
		}
		cfg->supply_low_by[i].match = strdup(p->key);
		cfg->supply_low_by[i].percent = (int)p->value->u.i;
		cfg->n_supply_low_by = i + 1;
		if (cfg->supply_low_by[i].match == NULL)
			return tm_error_set(c->err, "internal.nomem", "out of memory");
	}
	return 0;
}

static const struct tm_conf_entry threshold_keys[] = {
	TM_CONF_KEY("supply_low", TM_CONF_INT, "10", 0, 0, 100, CFG(supply_low),
		    "percent at or below which a supply is low"),
	TM_CONF_KEY("supply_low_by", TM_CONF_CUSTOM, NULL, 0, 0, 0, TM_CONF_NOFIELD,
		    "percent per supply type or colorant (black: 5)",
		    .read = read_supply_low_by, .type_name = "map(percent)"),
	TM_CONF_KEY("hysteresis", TM_CONF_INT, "5", 0, 0, 50, CFG(hysteresis),
		    "percent points above the threshold to re-arm"),
	TM_CONF_KEY("part_life_warning", TM_CONF_INT, "90", 0, 1, 1000, CFG(part_life_warning),
		    "percent of a part's rated life"),
};
static const struct tm_conf_section threshold_section = TM_CONF_TABLE(threshold_keys, NULL);

static int check_outbox(const struct tm_conf_ctx *c, const struct tm_node *n, const char *path,
			void *obj)
{
	struct ag_config *cfg = obj;
	(void)c, (void)path;
	cfg->outbox_count_set = tm_node_get(n, "max_count") != NULL;
	cfg->outbox_bytes_set = tm_node_get(n, "max_bytes") != NULL;
	return 0;
}

static const struct tm_conf_entry outbox_keys[] = {
	TM_CONF_KEY("directory", TM_CONF_PATH, NULL, TM_CONF_REQUIRED, 0, 0, CFG(outbox_dir),
		    "the durable outbox"),
	TM_CONF_KEY("max_count", TM_CONF_SIZE, "1000", 0, 2, 1000000, CFG(outbox_max_count),
		    "reports held (default: three days of every device's, at least 1000)"),
	TM_CONF_KEY("max_bytes", TM_CONF_SIZE, "67108864", 0, 65536, (int64_t)1 << 40,
		    CFG(outbox_max_bytes), "bytes held (default: as many 8 KiB reports, at least 64 MiB)"),
};
static const struct tm_conf_section outbox_section = TM_CONF_TABLE(outbox_keys, check_outbox);

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

/* ---- collectors ---- */

static const struct tm_conf_choice collector_types[] = {
	{ "file", AG_COLLECT_FILE }, { "snmp", AG_COLLECT_SNMP }, { NULL, 0 },
};

static int check_collector(const struct tm_conf_ctx *c, const struct tm_node *n, const char *path,
			   void *obj)
{
	struct ag_collector_config *k = obj;
	char at[160];
	if (k->type == AG_COLLECT_FILE) {
		snprintf(at, sizeof(at), "%.120s.path", path);
		if (k->path == NULL)
			return tm_conf_fail(c, n, "config.missing_key", at, "missing (type: file)");
		return 0;
	}
	snprintf(at, sizeof(at), "%.120s.host", path);
	if (k->host == NULL)
		return tm_conf_fail(c, n, "config.missing_key", at, "missing (type: snmp)");
	if (k->version == 2 && k->community == NULL)
		return tm_conf_fail(c, n, "config.missing_key", path,
				    "community is required for SNMP v2c");
	if (k->version == 3 && (k->user == NULL || k->auth_password_file == NULL ||
				k->priv_password_file == NULL))
		return tm_conf_fail(c, n, "config.missing_key", path,
				    "SNMP v3 needs user, auth_password_file and priv_password_file (authPriv)");
	static const char *const auths[] = { "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512", NULL };
	bool aok = k->auth_protocol == NULL;
	for (const char *const *a = auths; !aok && *a; a++)
		aok = strcmp(*a, k->auth_protocol) == 0;
	snprintf(at, sizeof(at), "%.120s.auth_protocol", path);
	if (!aok)
		return BAD(c, tm_node_get(n, "auth_protocol"), at,
			   "must be SHA, SHA-224, SHA-256, SHA-384 or SHA-512");
	snprintf(at, sizeof(at), "%.120s.priv_protocol", path);
	if (k->priv_protocol != NULL && strcmp(k->priv_protocol, "AES") != 0)
		return BAD(c, tm_node_get(n, "priv_protocol"), at, "must be AES");
	snprintf(at, sizeof(at), "%.120s.host", path);
	if (!host_ok(k->host))
		return BAD(c, tm_node_get(n, "host"), at, "must be a host name or IPv4 address");
	return 0;
}

static const struct tm_conf_entry collector_keys[] = {
	TM_CONF_KEY("type", TM_CONF_ENUM, NULL, TM_CONF_REQUIRED, 0, 0, COLL(type),
		    "file (a snapshot) or snmp (Printer-MIB)", .choices = collector_types),
	TM_CONF_KEY("serial", TM_CONF_STRING, NULL, 0, 0, 0, COLL(serial),
		    "device serial (override, or fallback)"),
	TM_CONF_KEY("path", TM_CONF_PATH, NULL, 0, 0, 0, COLL(path), "file: the snapshot"),
	TM_CONF_KEY("host", TM_CONF_STRING, NULL, 0, 0, 253, COLL(host), "snmp: the device"),
	TM_CONF_KEY("port", TM_CONF_INT, "161", 0, 1, 65535, COLL(port), "snmp: UDP port"),
	TM_CONF_KEY("version", TM_CONF_INT, "2", 0, 2, 3, COLL(version), "snmp: 2 (v2c) or 3"),
	TM_CONF_KEY("timeout_ms", TM_CONF_INT, "2000", 0, 50, 60000, COLL(timeout_ms),
		    "snmp: per request"),
	TM_CONF_KEY("retries", TM_CONF_INT, "1", 0, 0, 5, COLL(retries), "snmp: per request"),
	TM_CONF_KEY("community", TM_CONF_STRING, NULL, 0, 0, 0, COLL(community),
		    "snmp v2c: the community"),
	TM_CONF_KEY("user", TM_CONF_STRING, NULL, 0, 0, 0, COLL(user), "snmp v3: the user"),
	TM_CONF_KEY("auth_protocol", TM_CONF_STRING, NULL, 0, 0, 0, COLL(auth_protocol),
		    "snmp v3: SHA, SHA-224, SHA-256, SHA-384 or SHA-512"),
	TM_CONF_KEY("auth_password_file", TM_CONF_PATH, NULL, 0, 0, 0, COLL(auth_password_file),
		    "snmp v3: the authentication password, in a file"),
	TM_CONF_KEY("priv_protocol", TM_CONF_STRING, NULL, 0, 0, 0, COLL(priv_protocol),
		    "snmp v3: AES"),
	TM_CONF_KEY("priv_password_file", TM_CONF_PATH, NULL, 0, 0, 0, COLL(priv_password_file),
		    "snmp v3: the privacy password, in a file"),
};
static const struct tm_conf_section collector_section =
	TM_CONF_TABLE(collector_keys, check_collector);

/* ---- the top level ---- */

static int check_root(const struct tm_conf_ctx *c, const struct tm_node *n, const char *path,
		      void *obj)
{
	struct ag_config *cfg = obj;
	(void)path;
	if (cfg->role == AG_ROLE_DEVICE && cfg->n_collectors != 1)
		return BAD(c, tm_node_get(n, "collectors"), "collectors",
			   "the device role has exactly one collector (use role: collector for several devices)");
	return 0;
}

static const struct tm_conf_entry root_keys[] = {
	TM_CONF_KEY("identity", TM_CONF_SECTION, NULL, TM_CONF_REQUIRED, 0, 0, TM_CONF_NOFIELD, NULL,
		    .section = &identity_section),
	TM_CONF_KEY("gateway", TM_CONF_SECTION, NULL, TM_CONF_REQUIRED, 0, 0, TM_CONF_NOFIELD, NULL,
		    .section = &gateway_section),
	TM_CONF_KEY("smtp", TM_CONF_SECTION, NULL, TM_CONF_REQUIRED, 0, 0, TM_CONF_NOFIELD, NULL,
		    .section = &smtp_section),
	TM_CONF_KEY("schedule", TM_CONF_SECTION, NULL, 0, 0, 0, TM_CONF_NOFIELD, NULL,
		    .section = &schedule_section),
	TM_CONF_KEY("thresholds", TM_CONF_SECTION, NULL, 0, 0, 0, TM_CONF_NOFIELD, NULL,
		    .section = &threshold_section),
	TM_CONF_KEY("outbox", TM_CONF_SECTION, NULL, TM_CONF_REQUIRED, 0, 0, TM_CONF_NOFIELD, NULL,
		    .section = &outbox_section),
	TM_CONF_KEY("state_directory", TM_CONF_PATH, NULL, TM_CONF_REQUIRED, 0, 0, CFG(state_dir),
		    "the agent's state (device state, events)"),
	TM_CONF_KEY("collectors", TM_CONF_LIST, NULL, TM_CONF_REQUIRED, 1, AG_MAX_COLLECTORS,
		    CFG(collectors), "where the reports come from", .of = TM_CONF_SECTION,
		    .count_offset = offsetof(struct ag_config, n_collectors),
		    .elem_size = sizeof(struct ag_collector_config), .section = &collector_section),
};
static const struct tm_conf_section root_section = TM_CONF_TABLE(root_keys, check_root);

int ag_config_describe(struct tm_buf *out, bool tsv)
{
	return tsv ? tm_conf_describe_tsv(&root_section, "", out) : tm_conf_describe(&root_section, "", out);
}

int ag_config_parse(const uint8_t *buf, size_t len, const char *base_dir,
		    struct ag_config **out, struct tm_error *err)
{
	struct tm_node *root = NULL;
	struct ag_config *c = calloc(1, sizeof(*c));
	struct tm_conf_ctx x = { .base = base_dir, .err = err,
				 .flags = TM_CONF_NULL_ABSENT | TM_CONF_INT_SECONDS };
	int rc = -1;
	*out = NULL;
	if (c == NULL) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	if (tm_conf_defaults(&root_section, c, err) < 0)
		goto out;
	if (tm_yaml_read(buf, len, &TM_YAML_CONFIG_LIMITS, &root, err) != 0) {
		/* a configuration error, not a report's: the YAML reader's message
		 * (line, column, what) under config.syntax, as the gateway does */
		tm_error_set(err, "config.syntax", "%s", err->msg);
		goto out;
	}
	if (tm_conf_read(&x, &root_section, root, "", c) < 0)
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
	tm_conf_release(&root_section, c);
	free(c->path);
	for (size_t i = 0; i < c->smtp.n_relays; i++)
		free(c->smtp.relays[i].host);
	for (size_t i = 0; i < c->n_supply_low_by; i++)
		free(c->supply_low_by[i].match);
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
