/* telemail-agent — the `snmp` collector (docs/snmp.md).
 *
 * Over 800 lines, on purpose: the many devices' requests in flight, their
 * timeouts and the check that an answer is the Response to the request it
 * claims (issue 14: any other datagram is dropped) share one session table;
 * apart, each half would need the other's internals.
 *
 * Printer-MIB (RFC 3805), Host Resources MIB (RFC 2790) and SNMPv2-MIB
 * over SNMP v2c or v3 authPriv, with net-snmp's single-session API
 * (snmp_sess_*): every device has its own asynchronous session; up to
 * AG_SNMP_INFLIGHT devices are walked at the same time from one poll()
 * loop, each within its own deadline, so a dead device costs its own
 * timeout and never stalls the others. Numeric OIDs only: no MIB files
 * are read, no configuration or persistent files, and net-snmp's log goes
 * nowhere (a library does not print). net-snmp types stay in this file. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>
#include <net-snmp/library/large_fd_set.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/report.h>

#include "collect.h"
#include "config.h"
#include "snmp_mib.h"

#define BULK_REPETITIONS 16
#define MAX_OID 40

/* What is walked, in this order (subtrees of numeric OIDs). */
enum { W_SYSNAME, W_SYSLOCATION, W_HRDESCR, W_HRPRINTER, W_SERIAL, W_MARKER, W_SUPPLIES,
       W_COLORANT, W_ALERTS, W_COUNT };

struct walk {
	oid o[12];
	size_t len;
};

static const struct walk walks[W_COUNT] = {
	[W_SYSNAME] = { { 1, 3, 6, 1, 2, 1, 1, 5 }, 8 },              /* sysName */
	[W_SYSLOCATION] = { { 1, 3, 6, 1, 2, 1, 1, 6 }, 8 },          /* sysLocation */
	[W_HRDESCR] = { { 1, 3, 6, 1, 2, 1, 25, 3, 2, 1, 3 }, 11 },   /* hrDeviceDescr */
	[W_HRPRINTER] = { { 1, 3, 6, 1, 2, 1, 25, 3, 5, 1 }, 10 },    /* hrPrinterEntry */
	[W_SERIAL] = { { 1, 3, 6, 1, 2, 1, 43, 5, 1, 1, 17 }, 11 },   /* prtGeneralSerialNumber */
	[W_MARKER] = { { 1, 3, 6, 1, 2, 1, 43, 10, 2, 1 }, 10 },      /* prtMarkerEntry */
	[W_SUPPLIES] = { { 1, 3, 6, 1, 2, 1, 43, 11, 1, 1 }, 10 },    /* prtMarkerSuppliesEntry */
	[W_COLORANT] = { { 1, 3, 6, 1, 2, 1, 43, 12, 1, 1, 4 }, 11 }, /* prtMarkerColorantValue */
	[W_ALERTS] = { { 1, 3, 6, 1, 2, 1, 43, 18, 1, 1 }, 10 },      /* prtAlertEntry */
};

/* One variable as received. */
struct var {
	oid name[MAX_OID];
	size_t len;
	unsigned char type;
	long i;                 /* INTEGER, Counter32, Gauge32 */
	uint8_t *s;             /* OCTET STRING (malloc'd) */
	size_t slen;
};

enum dev_state { DEV_WAITING, DEV_ACTIVE, DEV_DONE };

struct dev {
	const struct ag_collector_config *k;
	struct ag_collected *out;
	void *sess;
	enum dev_state state;
	int walk;
	oid cur[MAX_OID];
	size_t cur_len;
	bool need_send, answered, failed;
	unsigned requests, answers;
	long reqid;             /* of the request in flight */
	struct sockaddr_in addrs[8]; /* the configured host's IPv4 addresses and port */
	size_t n_addrs;
	int64_t deadline;       /* monotonic ms */
	int64_t budget;         /* ms, for the message */
	struct var *vars;
	size_t nvars, cap;
};

/* ---- one-time library setup --------------------------------------------- */

static pthread_once_t snmp_once = PTHREAD_ONCE_INIT;

static int drop_log(int major, int minor, void *server, void *client)
{
	(void)major;
	(void)minor;
	(void)server;
	(void)client;
	return 1;
}

static void snmp_setup(void)
{
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_READ_CONFIGS, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_LOAD, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_SAVE, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_PERSIST_STATE, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_NO_TOKEN_WARNINGS, 1);
	/* no MIB files: numeric OIDs only */
	netsnmp_set_mib_directory("/nonexistent");
	netsnmp_ds_set_string(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_MIBDIRS, "/nonexistent");
	snmp_disable_log();
	netsnmp_register_loghandler(NETSNMP_LOGHANDLER_CALLBACK, LOG_EMERG);
	snmp_register_callback(SNMP_CALLBACK_LIBRARY, SNMP_CALLBACK_LOGGING, drop_log, NULL);
	init_snmp("telemail-agent");
}

/* ---- helpers ------------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void dev_fail(struct dev *d, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void dev_fail(struct dev *d, const char *reason, const char *fmt, ...)
{
	if (d->failed)
		return;
	char m[TM_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	if (d->out->dropped > 0)
		tm_error_set(&d->out->err, reason, "snmp %s:%d: %s; %u datagrams dropped (last: %s)",
			     d->k->host, d->k->port, m, d->out->dropped, d->out->dropped_why);
	else
		tm_error_set(&d->out->err, reason, "snmp %s:%d: %s", d->k->host, d->k->port, m);
	d->failed = true;
	d->state = DEV_DONE;
}

static bool in_walk(int w, const oid *name, size_t len)
{
	return len > walks[w].len && memcmp(name, walks[w].o, walks[w].len * sizeof(oid)) == 0;
}

/* ---- the walk ------------------------------------------------------------ */

static void store(struct dev *d, const netsnmp_variable_list *v)
{
	if (d->nvars >= AG_SNMP_MAX_VARBINDS) {
		dev_fail(d, "collect.snmp", "more than %d variables", AG_SNMP_MAX_VARBINDS);
		return;
	}
	if (d->nvars == d->cap) {
		size_t nc = d->cap ? d->cap * 2 : 64;
		struct var *nv = realloc(d->vars, nc * sizeof(*nv));
		if (nv == NULL) {
			dev_fail(d, "internal.nomem", "out of memory");
			return;
		}
		d->vars = nv;
		d->cap = nc;
	}
	struct var *x = &d->vars[d->nvars];
	memset(x, 0, sizeof(*x));
	memcpy(x->name, v->name, v->name_length * sizeof(oid));
	x->len = v->name_length;
	x->type = v->type;
	switch (v->type) {
	case ASN_INTEGER:
	case ASN_COUNTER:
	case ASN_GAUGE:
	case ASN_TIMETICKS:
		x->i = *v->val.integer;
		break;
	case ASN_OCTET_STR:
		x->s = malloc(v->val_len ? v->val_len : 1);
		if (x->s == NULL) {
			dev_fail(d, "internal.nomem", "out of memory");
			return;
		}
		memcpy(x->s, v->val.string, v->val_len);
		x->slen = v->val_len;
		break;
	default:
		break;
	}
	d->nvars++;
}

static void next_walk(struct dev *d)
{
	d->walk++;
	if (d->walk >= W_COUNT) {
		d->state = DEV_DONE;
		return;
	}
	memcpy(d->cur, walks[d->walk].o, walks[d->walk].len * sizeof(oid));
	d->cur_len = walks[d->walk].len;
	d->need_send = true;
}

static void on_response(struct dev *d, netsnmp_pdu *pdu)
{
	d->answered = true;
	d->answers++;
	if (pdu->command == SNMP_MSG_REPORT) {
		dev_fail(d, "collect.snmp", "SNMPv3 report: %s",
			 snmp_api_errstring(snmpv3_get_report_type(pdu)));
		return;
	}
	if (pdu->errstat != SNMP_ERR_NOERROR) {
		dev_fail(d, "collect.snmp", "error status %ld (%s) at index %ld", pdu->errstat,
			 snmp_errstring((int)pdu->errstat), pdu->errindex);
		return;
	}
	bool ended = pdu->variables == NULL;
	for (netsnmp_variable_list *v = pdu->variables; v && !ended && !d->failed; v = v->next_variable) {
		if (v->type == SNMP_ENDOFMIBVIEW || v->type == SNMP_NOSUCHOBJECT ||
		    v->type == SNMP_NOSUCHINSTANCE || v->name_length > MAX_OID ||
		    !in_walk(d->walk, v->name, v->name_length)) {
			ended = true;
			break;
		}
		if (snmp_oid_compare(v->name, v->name_length, d->cur, d->cur_len) <= 0) {
			dev_fail(d, "collect.snmp", "the agent returned OIDs out of order (walk %d)", d->walk);
			return;
		}
		store(d, v);
		memcpy(d->cur, v->name, v->name_length * sizeof(oid));
		d->cur_len = v->name_length;
	}
	if (d->failed)
		return;
	if (ended)
		next_walk(d);
	else
		d->need_send = true;
}

/* A datagram that is not the answer to the request in flight: counted (the
 * device's error and the agent's status say so) and dropped. */
static void dev_drop(struct dev *d, const char *why)
{
	d->out->dropped++;
	snprintf(d->out->dropped_why, sizeof(d->out->dropped_why), "%s", why);
}

/* Was the datagram sent by the configured device (address and port)? */
static bool from_device(const struct dev *d, const netsnmp_pdu *pdu)
{
	const netsnmp_indexed_addr_pair *ap = pdu->transport_data;
	if (ap == NULL || pdu->transport_data_length < (int)sizeof(*ap) ||
	    ap->remote_addr.sa.sa_family != AF_INET)
		return false;
	for (size_t i = 0; i < d->n_addrs; i++)
		if (ap->remote_addr.sin.sin_addr.s_addr == d->addrs[i].sin_addr.s_addr &&
		    ap->remote_addr.sin.sin_port == d->addrs[i].sin_port)
			return true;
	return false;
}

/* Only a Response (a Report for v3) to the request in flight, from the
 * device's address and port, with its community (v3: its user, authPriv)
 * is an answer. NULL: it is; else why not. */
static const char *not_an_answer(const struct dev *d, int reqid, const netsnmp_pdu *pdu)
{
	if (pdu->command != SNMP_MSG_RESPONSE && !(d->k->version == 3 && pdu->command == SNMP_MSG_REPORT))
		return "not a Response PDU";
	if (reqid != d->reqid || pdu->reqid != d->reqid)
		return "another request-id";
	if (!from_device(d, pdu))
		return "from another address or port";
	if (d->k->version == 3) {
		size_t n = strlen(d->k->user);
		if (pdu->version != SNMP_VERSION_3 || pdu->securityLevel != SNMP_SEC_LEVEL_AUTHPRIV ||
		    pdu->securityNameLen != n || memcmp(pdu->securityName, d->k->user, n) != 0)
			return "another SNMPv3 user or security level";
	} else {
		size_t n = strlen(d->k->community);
		if (pdu->version != SNMP_VERSION_2c || pdu->community_len != n ||
		    memcmp(pdu->community, d->k->community, n) != 0)
			return "another community or version";
	}
	return NULL;
}

/* The session's own callback: net-snmp hands it what matches no request
 * (a trap, a request sent to us, an echo of ours). Never an answer. */
static int on_unsolicited(int op, netsnmp_session *sp, int reqid, netsnmp_pdu *pdu, void *magic)
{
	(void)sp;
	(void)reqid;
	(void)pdu;
	if (op == NETSNMP_CALLBACK_OP_RECEIVED_MESSAGE)
		dev_drop(magic, "not a Response PDU");
	return 1;
}

static int on_pdu(int op, netsnmp_session *sp, int reqid, netsnmp_pdu *pdu, void *magic)
{
	struct dev *d = magic;
	(void)sp;
	if (d->state != DEV_ACTIVE)
		return 1;
	if (op == NETSNMP_CALLBACK_OP_RESEND || op == NETSNMP_CALLBACK_OP_CONNECT)
		return 1;          /* a retry under way: not an outcome */
	if (op == NETSNMP_CALLBACK_OP_RECEIVED_MESSAGE) {
		const char *why = not_an_answer(d, reqid, pdu);
		if (why != NULL) {
			dev_drop(d, why);
			return 0;  /* the request stays in flight: its timeout and retries go on */
		}
		on_response(d, pdu);
	}
	else if (op == NETSNMP_CALLBACK_OP_TIMED_OUT && !d->answered)
		dev_fail(d, "collect.unavailable", "no answer within %d ms (%d retries)", d->k->timeout_ms,
			 d->k->retries);
	else if (op == NETSNMP_CALLBACK_OP_TIMED_OUT)
		dev_fail(d, "collect.snmp", "timeout in the middle of the walk (after %u requests)", d->requests);
	else if (op == NETSNMP_CALLBACK_OP_SEC_ERROR)
		dev_fail(d, "collect.snmp", "SNMPv3 security error (user, keys or engine)");
	else
		dev_fail(d, "collect.snmp", "request failed (callback op %d)", op);
	return 1;
}

static void send_next(struct dev *d)
{
	d->need_send = false;
	if (d->requests >= AG_SNMP_MAX_REQUESTS) {
		dev_fail(d, "collect.snmp", "more than %d requests", AG_SNMP_MAX_REQUESTS);
		return;
	}
	netsnmp_pdu *pdu = snmp_pdu_create(SNMP_MSG_GETBULK);
	if (pdu == NULL) {
		dev_fail(d, "internal.nomem", "out of memory");
		return;
	}
	pdu->non_repeaters = 0;
	pdu->max_repetitions = BULK_REPETITIONS;
	snmp_add_null_var(pdu, d->cur, d->cur_len);
	d->requests++;
	d->reqid = pdu->reqid;
	int sent = snmp_sess_async_send(d->sess, pdu, on_pdu, d);
	if (sent != 0)
		d->reqid = sent;
	if (sent == 0) {
		int e = snmp_sess_session(d->sess)->s_snmp_errno;
		snmp_free_pdu(pdu);
		dev_fail(d, "collect.snmp", "send failed: %s", snmp_api_errstring(e));
	}
}

/* ---- session setup --------------------------------------------------------- */

static int read_secret(const char *path, char *buf, size_t cap, struct dev *d, const char *what)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		dev_fail(d, "collect.snmp", "cannot read the %s file %s: %s", what, path, strerror(errno));
		return -1;
	}
	size_t n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (strlen(buf) < 8) {
		dev_fail(d, "collect.snmp", "the %s in %s is shorter than 8 characters (USM minimum)", what, path);
		return -1;
	}
	return 0;
}

struct auth_proto {
	const char *name;
	const oid *o;
	size_t len;
};

/* The addresses an answer may come from: the host's IPv4 addresses (net-snmp's
 * "udp:" transport is IPv4) and the configured port. */
static int resolve(struct dev *d)
{
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_DGRAM;
	int e = getaddrinfo(d->k->host, NULL, &hints, &res);
	if (e != 0) {
		dev_fail(d, "collect.unavailable", "cannot resolve the host: %s", gai_strerror(e));
		return -1;
	}
	d->n_addrs = 0;
	for (struct addrinfo *a = res; a && d->n_addrs < sizeof(d->addrs) / sizeof(d->addrs[0]); a = a->ai_next) {
		memcpy(&d->addrs[d->n_addrs], a->ai_addr, sizeof(d->addrs[0]));
		d->addrs[d->n_addrs++].sin_port = htons((uint16_t)d->k->port);
	}
	freeaddrinfo(res);
	return 0;
}

static void dev_open(struct dev *d)
{
	netsnmp_session s;
	char peer[300], auth[256], priv[256];
	snmp_sess_init(&s);
	snprintf(peer, sizeof(peer), "udp:%s:%d", d->k->host, d->k->port);
	s.peername = peer;
	s.timeout = (long)d->k->timeout_ms * 1000;
	s.retries = d->k->retries;
	s.callback = on_unsolicited;
	s.callback_magic = d;
	if (resolve(d) != 0)
		return;
	if (d->k->version == 3) {
		const struct auth_proto protos[] = {
			{ "SHA", usmHMACSHA1AuthProtocol, USM_AUTH_PROTO_SHA_LEN },
			{ "SHA-224", usmHMAC128SHA224AuthProtocol, OID_LENGTH(usmHMAC128SHA224AuthProtocol) },
			{ "SHA-256", usmHMAC192SHA256AuthProtocol, OID_LENGTH(usmHMAC192SHA256AuthProtocol) },
			{ "SHA-384", usmHMAC256SHA384AuthProtocol, OID_LENGTH(usmHMAC256SHA384AuthProtocol) },
			{ "SHA-512", usmHMAC384SHA512AuthProtocol, OID_LENGTH(usmHMAC384SHA512AuthProtocol) },
		};
		const char *an = d->k->auth_protocol ? d->k->auth_protocol : "SHA";
		const struct auth_proto *ap = NULL;
		for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
			if (strcmp(protos[i].name, an) == 0)
				ap = &protos[i];
		if (ap == NULL) {
			dev_fail(d, "collect.snmp", "unsupported auth_protocol '%.20s'", an);
			return;
		}
		if (read_secret(d->k->auth_password_file, auth, sizeof(auth), d, "auth password") != 0 ||
		    read_secret(d->k->priv_password_file, priv, sizeof(priv), d, "priv password") != 0)
			return;
		s.version = SNMP_VERSION_3;
		s.securityName = d->k->user;
		s.securityNameLen = strlen(d->k->user);
		s.securityLevel = SNMP_SEC_LEVEL_AUTHPRIV;
		s.securityAuthProto = (oid *)ap->o;
		s.securityAuthProtoLen = ap->len;
		s.securityAuthKeyLen = USM_AUTH_KU_LEN;
		s.securityPrivProto = usmAESPrivProtocol;
		s.securityPrivProtoLen = USM_PRIV_PROTO_AES_LEN;
		s.securityPrivKeyLen = USM_PRIV_KU_LEN;
		if (generate_Ku(s.securityAuthProto, (u_int)s.securityAuthProtoLen, (u_char *)auth,
				strlen(auth), s.securityAuthKey, &s.securityAuthKeyLen) != SNMPERR_SUCCESS ||
		    generate_Ku(s.securityAuthProto, (u_int)s.securityAuthProtoLen, (u_char *)priv,
				strlen(priv), s.securityPrivKey, &s.securityPrivKeyLen) != SNMPERR_SUCCESS) {
			explicit_bzero(auth, sizeof(auth));
			explicit_bzero(priv, sizeof(priv));
			dev_fail(d, "collect.snmp", "cannot derive the USM keys");
			return;
		}
		explicit_bzero(auth, sizeof(auth));
		explicit_bzero(priv, sizeof(priv));
	} else {
		s.version = SNMP_VERSION_2c;
		s.community = (u_char *)d->k->community;
		s.community_len = strlen(d->k->community);
	}
	/* v3: the engine ID discovery happens here, within the session's timeout */
	d->sess = snmp_sess_open(&s);
	explicit_bzero(s.securityAuthKey, sizeof(s.securityAuthKey));
	explicit_bzero(s.securityPrivKey, sizeof(s.securityPrivKey));
	if (d->sess == NULL) {
		int e = s.s_snmp_errno;
		if (e == SNMPERR_TIMEOUT)
			dev_fail(d, "collect.unavailable", "no answer to the SNMPv3 engine discovery within %d ms",
				 d->k->timeout_ms);
		else
			dev_fail(d, "collect.snmp", "cannot open the session: %s", snmp_api_errstring(e));
		return;
	}
	d->state = DEV_ACTIVE;
	d->walk = -1;
	d->budget = (int64_t)d->k->timeout_ms * (d->k->retries + 1) * AG_SNMP_DEADLINE_FACTOR;
	d->deadline = now_ms() + d->budget;
	next_walk(d);
}

/* ---- the report from the variables ---------------------------------------- */

static const struct var *find(const struct dev *d, int w, const oid *suffix, size_t slen)
{
	for (size_t i = 0; i < d->nvars; i++) {
		const struct var *v = &d->vars[i];
		if (v->len == walks[w].len + slen && in_walk(w, v->name, v->len) &&
		    memcmp(v->name + walks[w].len, suffix, slen * sizeof(oid)) == 0)
			return v;
	}
	return NULL;
}

static const struct var *find_int(const struct dev *d, int w, const oid *suffix, size_t slen)
{
	const struct var *v = find(d, w, suffix, slen);
	return v && (v->type == ASN_INTEGER || v->type == ASN_COUNTER || v->type == ASN_GAUGE) ? v : NULL;
}

static bool pattern_ok(const char *s, size_t max, const char *extra)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      strchr(extra, *p) != NULL))
			return false;
	return true;
}

/* A string object as text, or NULL (absent, not a string, too long, no
 * match of the schema's character set when `extra` is given). */
static char *text_of(const struct dev *d, int w, const oid *suffix, size_t slen, size_t max,
		     const char *extra, bool *nomem)
{
	const struct var *v = find(d, w, suffix, slen);
	if (v == NULL || v->type != ASN_OCTET_STR)
		return NULL;
	char *s = ag_snmp_text(v->s, v->slen);
	if (s == NULL) {
		*nomem = true;
		return NULL;
	}
	if (s[0] == '\0' || strlen(s) > max || (extra && !pattern_ok(s, max, extra))) {
		free(s);
		return NULL;
	}
	return s;
}

static char *dupn(const char *s, bool *nomem)
{
	if (s == NULL)
		return NULL;
	char *r = strdup(s);
	if (r == NULL)
		*nomem = true;
	return r;
}

static void build_supplies(const struct dev *d, struct tm_report *r, oid pidx, bool *nomem)
{
	size_t rows = 0;
	for (size_t i = 0; i < d->nvars; i++)
		if (in_walk(W_SUPPLIES, d->vars[i].name, d->vars[i].len))
			rows++;
	if (rows == 0)
		return;
	r->supplies = calloc(rows < 64 ? rows : 64, sizeof(*r->supplies));
	if (r->supplies == NULL) {
		*nomem = true;
		return;
	}
	r->has_supplies = true;
	const size_t base = walks[W_SUPPLIES].len;
	for (size_t i = 0; i < d->nvars && r->n_supplies < 64; i++) {
		const struct var *lv = &d->vars[i];
		/* rows are found by their level column: prtMarkerSuppliesLevel.pidx.sidx */
		if (!in_walk(W_SUPPLIES, lv->name, lv->len) || lv->len != base + 3 || lv->name[base] != 9 ||
		    lv->name[base + 1] != pidx || lv->type != ASN_INTEGER)
			continue;
		oid sidx = lv->name[base + 2];
		oid sfx[3] = { 5, pidx, sidx };
		const struct var *tv = find_int(d, W_SUPPLIES, sfx, 3);
		if (tv == NULL || lv->i < -3 || sidx < 1 || sidx > 65535)
			continue;      /* type and level are required: no row without them */
		struct tm_supply *s = &r->supplies[r->n_supplies++];
		s->index = (int64_t)sidx;
		s->level = lv->i;
		s->max_capacity = TM_UNSET;
		const char *tn = ag_mib_supply_type(tv->i);
		s->type = dupn(tn ? tn : "other", nomem);
		sfx[0] = 6;
		s->description = text_of(d, W_SUPPLIES, sfx, 3, 256, NULL, nomem);
		sfx[0] = 7;
		const struct var *uv = find_int(d, W_SUPPLIES, sfx, 3);
		if (uv != NULL)
			s->unit = dupn(ag_mib_supply_unit(uv->i), nomem);
		sfx[0] = 8;
		const struct var *mv = find_int(d, W_SUPPLIES, sfx, 3);
		if (mv != NULL && mv->i >= -2)
			s->max_capacity = mv->i;
		sfx[0] = 3;
		const struct var *cv = find_int(d, W_SUPPLIES, sfx, 3);
		if (cv != NULL && cv->i > 0) {
			oid csfx[2] = { pidx, (oid)cv->i };
			s->colorant = text_of(d, W_COLORANT, csfx, 2, 32, " _-", nomem);
		}
	}
}

static void build_alerts(const struct dev *d, struct tm_report *r, oid pidx, bool *nomem)
{
	size_t rows = 0;
	const size_t base = walks[W_ALERTS].len;
	for (size_t i = 0; i < d->nvars; i++)
		if (in_walk(W_ALERTS, d->vars[i].name, d->vars[i].len))
			rows++;
	if (rows == 0)
		return;
	r->alerts = calloc(rows < 64 ? rows : 64, sizeof(*r->alerts));
	if (r->alerts == NULL) {
		*nomem = true;
		return;
	}
	r->has_alerts = true;
	for (size_t i = 0; i < d->nvars && r->n_alerts < 64; i++) {
		const struct var *sv = &d->vars[i];
		/* rows by their severity column: prtAlertSeverityLevel.pidx.aidx */
		if (!in_walk(W_ALERTS, sv->name, sv->len) || sv->len != base + 3 || sv->name[base] != 2 ||
		    sv->name[base + 1] != pidx || sv->type != ASN_INTEGER)
			continue;
		oid sfx[3] = { 7, pidx, sv->name[base + 2] };
		const struct var *cv = find_int(d, W_ALERTS, sfx, 3);
		const char *sev = ag_mib_alert_severity(sv->i);
		if (cv == NULL || sev == NULL)
			continue;      /* code and severity are required */
		struct tm_alert *a = &r->alerts[r->n_alerts++];
		a->location = TM_UNSET;
		a->counter = TM_UNSET;
		char code[24];
		ag_mib_alert_code(cv->i, code);
		a->code = dupn(code, nomem);
		a->severity = dupn(sev, nomem);
		sfx[0] = 4;
		const struct var *gv = find_int(d, W_ALERTS, sfx, 3);
		if (gv != NULL)
			a->group = dupn(ag_mib_alert_group(gv->i), nomem);
		sfx[0] = 6;
		const struct var *lv = find_int(d, W_ALERTS, sfx, 3);
		if (lv != NULL && lv->i >= -2)
			a->location = lv->i;
		sfx[0] = 8;
		a->description = text_of(d, W_ALERTS, sfx, 3, 256, NULL, nomem);
	}
}

static void build_report(struct dev *d)
{
	bool nomem = false;
	struct tm_report *r = tm_report_new();
	if (r == NULL) {
		tm_error_set(&d->out->err, "internal.nomem", "out of memory");
		return;
	}
	/* the printer's hrDeviceIndex: the first row of prtGeneralSerialNumber, else of hrPrinterTable */
	oid pidx = 1;
	for (size_t i = 0; i < d->nvars; i++) {
		const struct var *v = &d->vars[i];
		if ((in_walk(W_SERIAL, v->name, v->len) && v->len == walks[W_SERIAL].len + 1) ||
		    (in_walk(W_HRPRINTER, v->name, v->len) && v->len == walks[W_HRPRINTER].len + 2)) {
			pidx = v->name[v->len - 1];
			break;
		}
	}
	const oid zero[1] = { 0 };
	const oid p1[1] = { pidx };
	r->serial = text_of(d, W_SERIAL, p1, 1, 64, "._-", &nomem);
	r->name = text_of(d, W_SYSNAME, zero, 1, 256, NULL, &nomem);
	r->location = text_of(d, W_SYSLOCATION, zero, 1, 256, NULL, &nomem);
	r->model = text_of(d, W_HRDESCR, p1, 1, 256, NULL, &nomem);
	unsigned char a4[4];
	if (inet_pton(AF_INET, d->k->host, a4) == 1)
		r->ip = dupn(d->k->host, &nomem);

	/* status: hrPrinterStatus, hrPrinterDetectedErrorState (a bit string, bit 0 = MSB) */
	oid st[2] = { 1, pidx };
	const struct var *sv = find_int(d, W_HRPRINTER, st, 2);
	if (sv != NULL && ag_mib_printer_status(sv->i) != NULL) {
		r->has_status = true;
		r->state = dupn(ag_mib_printer_status(sv->i), &nomem);
		st[0] = 2;
		const struct var *ev = find(d, W_HRPRINTER, st, 2);
		if (ev != NULL && ev->type == ASN_OCTET_STR) {
			r->conditions = calloc(16, sizeof(char *));
			nomem = nomem || r->conditions == NULL;
			for (size_t b = 0; r->conditions && b < AG_MIB_ERROR_BITS && b / 8 < ev->slen; b++)
				if (ev->s[b / 8] & (0x80 >> (b % 8)))
					r->conditions[r->n_conditions++] = dupn(ag_mib_error_bit(b), &nomem);
		}
	}

	/* counters: prtMarkerLifeCount of the first marker (Counter32: the agent
	 * makes it a 64-bit total across wraps) in the unit prtMarkerCounterUnit says */
	for (size_t i = 0; i < d->nvars; i++) {
		const struct var *v = &d->vars[i];
		const size_t base = walks[W_MARKER].len;
		if (!in_walk(W_MARKER, v->name, v->len) || v->len != base + 3 || v->name[base] != 4 ||
		    v->name[base + 1] != pidx || v->type != ASN_COUNTER)
			continue;
		oid usfx[3] = { 3, pidx, v->name[base + 2] };
		const struct var *uv = find_int(d, W_MARKER, usfx, 3);
		struct ag_raw_counter *rc = &d->out->raw[d->out->n_raw++];
		snprintf(rc->key, sizeof(rc->key), "prtMarkerLifeCount.%lu.%lu", (unsigned long)pidx,
			 (unsigned long)v->name[base + 2]);
		rc->raw = (uint32_t)v->i;
		r->has_counters = true;
		if (uv != NULL && (uv->i == 7 || uv->i == 8)) {
			r->has_service[TM_SVC_TOTAL] = true;
			rc->dst = uv->i == 7 ? &r->service[TM_SVC_TOTAL].impressions : &r->service[TM_SVC_TOTAL].sheets;
		} else {
			r->vendor = calloc(1, sizeof(*r->vendor));
			if (r->vendor == NULL) {
				nomem = true;
				d->out->n_raw--;
				break;
			}
			r->n_vendor = 1;
			r->vendor[0].id = dupn("prtMarkerLifeCount", &nomem);
			r->vendor[0].unit = dupn("count", &nomem);
			rc->dst = &r->vendor[0].value;
		}
		*rc->dst = (int64_t)rc->raw;
		break;
	}

	build_supplies(d, r, pidx, &nomem);
	build_alerts(d, r, pidx, &nomem);
	if (nomem) {
		tm_report_free(r);
		d->out->n_raw = 0;
		tm_error_set(&d->out->err, "internal.nomem", "out of memory");
		return;
	}
	d->out->r = r;
}

/* ---- the loop -------------------------------------------------------------- */

static void dev_finish(struct dev *d)
{
	if (d->sess != NULL) {
		snmp_sess_close(d->sess);
		d->sess = NULL;
	}
	if (!d->failed)
		build_report(d);
	for (size_t i = 0; i < d->nvars; i++)
		free(d->vars[i].s);
	free(d->vars);
	d->vars = NULL;
	d->nvars = d->cap = 0;
}

void ag_collect_snmp_many(const struct ag_collector_config *ks, const size_t *idx, size_t n,
			  struct ag_collected *out)
{
	struct dev *devs = calloc(n ? n : 1, sizeof(*devs));
	struct dev **act = calloc(AG_SNMP_INFLIGHT, sizeof(*act));
	struct pollfd *pf = calloc(AG_SNMP_INFLIGHT, sizeof(*pf));
	netsnmp_large_fd_set fds;
	size_t next = 0, nact = 0;
	for (size_t i = 0; i < n; i++)
		memset(&out[i], 0, sizeof(out[i]));
	if (devs == NULL || act == NULL || pf == NULL) {
		for (size_t i = 0; i < n; i++)
			tm_error_set(&out[i].err, "internal.nomem", "out of memory");
		goto out;
	}
	pthread_once(&snmp_once, snmp_setup);
	netsnmp_large_fd_set_init(&fds, 1024);
	for (size_t i = 0; i < n; i++) {
		devs[i].k = &ks[idx[i]];
		devs[i].out = &out[i];
	}
	while (next < n || nact > 0) {
		while (nact < AG_SNMP_INFLIGHT && next < n) {
			struct dev *d = &devs[next++];
			dev_open(d);
			if (d->state == DEV_ACTIVE)
				act[nact++] = d;
			else
				dev_finish(d);
		}
		for (size_t i = 0; i < nact; i++)
			if (act[i]->state == DEV_ACTIVE && act[i]->need_send)
				send_next(act[i]);
		int64_t t = now_ms(), wait = 50;
		size_t np = 0;
		for (size_t i = 0; i < nact; i++) {
			struct dev *d = act[i];
			if (d->state != DEV_ACTIVE)
				continue;
			if (d->deadline - t < wait)
				wait = d->deadline - t > 0 ? d->deadline - t : 0;
			netsnmp_transport *tr = snmp_sess_transport(d->sess);
			pf[np].fd = tr ? tr->sock : -1;
			pf[np].events = POLLIN;
			pf[np].revents = 0;
			np++;
		}
		if (np > 0 && poll(pf, np, (int)wait) < 0 && errno != EINTR) {
			for (size_t i = 0; i < nact; i++)
				dev_fail(act[i], "collect.snmp", "poll: %s", strerror(errno));
		}
		np = 0;
		t = now_ms();
		for (size_t i = 0; i < nact; i++) {
			struct dev *d = act[i];
			if (d->state != DEV_ACTIVE)
				continue;
			if (pf[np].fd >= 0 && (pf[np].revents & (POLLIN | POLLERR | POLLHUP))) {
				if ((unsigned)pf[np].fd >= (unsigned)fds.lfs_setsize)
					netsnmp_large_fd_set_resize(&fds, pf[np].fd + 1);
				NETSNMP_LARGE_FD_ZERO(&fds);
				NETSNMP_LARGE_FD_SET(pf[np].fd, &fds);
				/* one datagram per read: one that reached neither callback
				 * matched no request (net-snmp drops it silently) */
				unsigned seen = d->out->dropped + d->answers;
				snmp_sess_read2(d->sess, &fds);
				if (pf[np].revents == POLLIN && d->out->dropped + d->answers == seen)
					dev_drop(d, "no request waits for it (another request-id, or not SNMP)");
			}
			np++;
			if (d->state == DEV_ACTIVE)
				snmp_sess_timeout(d->sess);
			if (d->state == DEV_ACTIVE && t >= d->deadline)
				dev_fail(d, d->answered ? "collect.snmp" : "collect.unavailable",
					 "no complete answer within the device deadline of %lld ms",
					 (long long)d->budget);
		}
		for (size_t i = 0; i < nact;) {
			if (act[i]->state == DEV_DONE) {
				dev_finish(act[i]);
				act[i] = act[--nact];
			} else {
				i++;
			}
		}
	}
	netsnmp_large_fd_set_cleanup(&fds);
out:
	for (size_t i = 0; i < nact; i++)
		dev_finish(act[i]);
	free(devs);
	free(act);
	free(pf);
}
