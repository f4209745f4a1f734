/* telemail — the one table of reason codes.
 *
 * Every error in libtelemail and the daemons carries one of these codes.
 * docs/reasons.md documents each; test/test_reason.c checks that the two
 * lists are the same. Codes are stable: never rename one, add a new one. */
#include <string.h>

#include <telemail/error.h>

#define P TM_CLASS_PERMANENT
#define T TM_CLASS_TRANSIENT
#define I TM_CLASS_INTERNAL

static const struct tm_reason reasons[] = {
	/* io: files and resources */
	{ "io.open", T, "451 4.3.0", "a file could not be opened" },
	{ "io.read", T, "451 4.3.0", "a file could not be read" },
	{ "io.write", T, "451 4.3.0", "a file could not be written or synced" },
	{ "io.too_large", P, "552 5.3.4", "a file is larger than its limit" },
	{ "internal.nomem", I, "451 4.3.0", "out of memory" },
	{ "internal.bug", I, "451 4.3.0", "a broken invariant inside telemail" },
	{ "internal.library", I, "451 4.3.0", "a library call failed unexpectedly" },

	/* report: YAML reading */
	{ "report.empty", P, "554 5.6.0", "the report document is empty" },
	{ "report.syntax", P, "554 5.6.0", "the report is not well-formed YAML" },
	{ "report.encoding", P, "554 5.6.0", "the report is not valid UTF-8 or holds a NUL byte" },
	{ "report.too_large", P, "552 5.3.4", "the report is larger than the document limit" },
	{ "report.too_deep", P, "554 5.6.0", "the report nests deeper than the depth limit" },
	{ "report.too_many_nodes", P, "554 5.6.0", "the report has more nodes than the node limit" },
	{ "report.string_too_long", P, "554 5.6.0", "a string or key is longer than the string limit" },
	{ "report.list_too_long", P, "554 5.6.0", "a list or map has more entries than the item limit" },
	{ "report.alias", P, "554 5.6.0", "the report uses YAML anchors or aliases" },
	{ "report.tag", P, "554 5.6.0", "the report uses explicit YAML tags" },
	{ "report.multiple_documents", P, "554 5.6.0", "the report holds more than one YAML document" },
	{ "report.duplicate_key", P, "554 5.6.0", "a mapping has the same key twice" },
	{ "report.bad_key", P, "554 5.6.0", "a mapping key is not a plain string" },
	{ "report.bad_number", P, "554 5.6.0", "a number is out of range or not finite" },

	/* report: schema validation */
	{ "report.schema", P, "554 5.6.0", "the report breaks a schema rule (enum, pattern, range, size)" },
	{ "report.unknown_field", P, "554 5.6.0", "the report has a field the schema does not define" },
	{ "report.missing_field", P, "554 5.6.0", "a required field is missing" },
	{ "report.wrong_type", P, "554 5.6.0", "a field has the wrong type" },
	{ "report.semantics", P, "554 5.6.0", "the report passes the schema but breaks a rule it cannot express (an impossible date, a firmware component twice)" },
	{ "report.pii_field", P, "554 5.7.0", "a field name looks like personal data (user, owner, e-mail, document, job or file name)" },
	{ "report.pii_value", P, "554 5.7.0", "a string value holds an e-mail address (personal data)" },
	{ "report.conflict", P, "554 5.6.0", "the same device and seq was already stored with different content" },
	{ "report.future", P, "554 5.6.0", "generated_at is further in the future than the allowed clock skew" },
	{ "report.signing_time", P, "554 5.6.0", "generated_at differs from the signature's signing time by more than max_future_skew" },
	{ "schema.invalid", I, "451 4.3.0", "the schema itself is malformed" },
	{ "schema.unsupported", I, "451 4.3.0", "the schema uses a keyword this validator does not implement" },

	/* mime: message structure */
	{ "mime.malformed", P, "554 5.6.0", "the message is not well-formed MIME" },
	{ "mime.too_large", P, "552 5.3.4", "the message is larger than the size limit" },
	{ "mime.too_many_headers", P, "554 5.6.0", "an entity has more header fields than the limit" },
	{ "mime.line_too_long", P, "554 5.6.0", "a line is longer than the line limit" },
	{ "mime.too_deep", P, "554 5.6.0", "MIME entities nest deeper than the depth limit" },
	{ "mime.too_many_parts", P, "554 5.6.0", "the message has more MIME parts than the limit" },
	{ "mime.bad_encoding", P, "554 5.6.0", "a body's transfer encoding is invalid" },
	{ "mime.bad_header", P, "554 5.6.0", "a header value to be written holds CR, LF or a non-printable character" },

	/* smime: envelope and signature */
	{ "smime.not_encrypted", P, "554 5.7.5", "the message is not an S/MIME enveloped message" },
	{ "smime.not_signed", P, "554 5.7.5", "the decrypted content carries no signature" },
	{ "smime.content_type", P, "554 5.6.0", "the signed content is not application/yaml" },
	{ "smime.malformed", P, "554 5.7.5", "the CMS structure cannot be parsed" },
	{ "smime.cbc_not_allowed", P, "554 5.7.5", "enveloped-data with AES-CBC is not allowed by the configuration" },
	{ "smime.weak_cipher", P, "554 5.7.5", "the content encryption algorithm is not AES-256-GCM or allowed AES-256-CBC, or a key agreement wraps the content key with less than aes256-wrap" },
	{ "smime.wrong_recipient", P, "554 5.7.5", "the message is not encrypted to any of the configured gateway keys" },
	{ "smime.decrypt_failed", P, "554 5.7.5", "the content could not be decrypted" },
	{ "smime.tampered", P, "554 5.7.5", "the ciphertext or its authentication tag was altered" },
	{ "smime.truncated_tag", P, "554 5.7.5", "the GCM authentication tag is shorter than 16 octets" },
	{ "smime.no_signer", P, "554 5.7.5", "the signed data has no signer" },
	{ "smime.multiple_signers", P, "554 5.7.5", "the signed data has more than one signer" },
	{ "smime.bad_signature", P, "554 5.7.5", "the signature does not match the content" },
	{ "smime.untrusted_signer", P, "554 5.7.5", "the signer certificate does not chain to a trusted CA" },
	{ "smime.signer_expired", P, "554 5.7.5", "the signer certificate was not valid at the signing time" },
	{ "smime.signer_eku", P, "554 5.7.5", "the signer certificate lacks extended key usage emailProtection" },
	{ "smime.signer_key_usage", P, "554 5.7.5", "the signer certificate lacks key usage digitalSignature" },
	{ "smime.signer_revoked", P, "554 5.7.5", "the signer certificate is revoked" },
	{ "smime.signer_no_serial", P, "554 5.7.5", "the signer certificate subject has no serialNumber" },
	{ "smime.signing_time", P, "554 5.7.5", "the signing time is in the future" },
	{ "smime.signing_time_old", P, "554 5.7.5", "the signing time is older than trust.max_message_age before the message arrived" },
	{ "smime.no_signing_time", P, "554 5.7.5", "the signature has no signed attributes with a signing time" },
	{ "smime.weak_digest", P, "554 5.7.5", "the signature uses SHA-1, MD5 or another digest weaker than SHA-256" },
	{ "smime.key", P, "554 5.7.0", "a certificate or key file is unusable" },

	/* device: identity binding at the gateway */
	{ "device.unknown", P, "554 5.7.1", "the signer certificate is not enrolled at the gateway" },
	{ "device.mismatch", P, "554 5.7.1", "the report's device serial is not covered by the signer certificate" },
	{ "device.moved", P, "554 5.7.1", "a collector reports an enrolled device that is not enrolled under it (another collector's or tenant's)" },

	/* store: the gateway's record store */
	{ "store.unavailable", T, "451 4.3.0", "the store cannot be opened, read or written right now" },
	{ "store.busy", T, "451 4.3.0", "the store is locked by another writer; retry" },
	{ "store.failed", I, "451 4.3.0", "a store query failed unexpectedly" },
	{ "store.version", I, "451 4.3.0", "the store's schema is newer than this program knows" },
	{ "store.unsupported", I, "451 4.3.0", "the configured store back end does not have this feature in this version" },
	{ "store.not_empty", P, "554 5.3.0", "store copy: the target database already holds rows" },
	{ "store.no_role", P, "554 5.3.0", "the database has no role of that name (reporting grants)" },

	/* config: gateway configuration files */
	{ "config.syntax", P, "554 5.3.5", "the configuration file is not well-formed YAML" },
	{ "config.unknown_key", P, "554 5.3.5", "the configuration has a key this version does not know" },
	{ "config.missing_key", P, "554 5.3.5", "a required configuration key is missing" },
	{ "config.bad_value", P, "554 5.3.5", "a configuration value has the wrong type, format or range" },

	/* quarantine: messages kept aside with their reason */
	{ "quarantine.not_found", P, "554 5.3.0", "no quarantined message has that id" },
	{ "quarantine.bad_id", P, "554 5.3.0", "a quarantine id is malformed or ambiguous" },

	/* registry: tenants and enrolled certificates */
	{ "registry.not_found", P, "554 5.3.0", "the tenant, certificate or device is not in the registry" },
	{ "registry.exists", P, "554 5.3.0", "the tenant or certificate is already in the registry" },
	{ "registry.conflict", P, "554 5.3.0", "the enrollment contradicts an existing one (role, tenant or device owner)" },
	{ "registry.bad_value", P, "554 5.3.0", "a tenant name, fingerprint, role or serial is malformed" },
	{ "registry.tenant_cycle", P, "554 5.3.0", "the tenant parent would make the tenant tree a cycle or too deep" },
	{ "registry.limit", P, "554 5.3.0", "an enrollment exceeds a registry limit (devices per collector)" },

	/* collect: device state collection (telemail-agent) */
	{ "collect.format", P, "554 5.6.0", "a device-state snapshot does not follow the documented format" },
	{ "collect.unavailable", T, "451 4.4.0", "the device state source cannot be read right now (missing file, no SNMP answer)" },
	{ "collect.snmp", T, "451 4.4.0", "an SNMP request failed (timeout, error status, session setup)" },
	{ "collect.serial_clash", P, "554 5.6.0", "two devices report the same serial: both are held back until only one does" },

	/* state: per-device agent state (seq, thresholds) */
	{ "state.corrupt", I, "451 4.3.0", "the agent's state file cannot be parsed" },

	/* outbox: the agent's durable queue */
	{ "outbox.full", T, "452 4.3.1", "the outbox is full and holds only event reports" },
	{ "outbox.corrupt", I, "451 4.3.0", "an outbox item or its metadata cannot be read" },
	{ "outbox.not_found", P, "554 5.3.0", "no outbox item has that id" },

	/* smtp: submission to the relays (telemail-agent) */
	{ "smtp.connect", T, "451 4.4.1", "no connection to the relay (resolve, connect, greeting)" },
	{ "smtp.tls", T, "451 4.7.0", "STARTTLS was not offered or the TLS handshake failed" },
	{ "smtp.certificate", T, "451 4.7.0", "the relay's certificate was refused (untrusted, expired, wrong host name)" },
	{ "smtp.auth", T, "451 4.7.0", "authentication at the relay failed" },
	{ "smtp.transient", T, "451 4.3.0", "the relay answered 4xx: try again later" },
	{ "smtp.rejected", P, "554 5.0.0", "the relay answered 5xx: the message is moved aside" },
	{ "smtp.protocol", T, "451 4.5.0", "the relay broke the protocol (malformed, oversized or endless reply, timeout)" },

	/* smtpd: the gateway's SMTP/LMTP listener (telemail-mailgw serve) */
	{ "smtpd.syntax", P, "501 5.5.4", "a command's arguments are malformed (address, brackets, SIZE value)" },
	{ "smtpd.parameter", P, "555 5.5.4", "a MAIL or RCPT parameter is not supported" },
	{ "smtpd.unknown_command", P, "500 5.5.1", "the command is not recognized (or HELO/EHLO under LMTP)" },
	{ "smtpd.sequence", P, "503 5.5.1", "a command came out of order (MAIL before EHLO, DATA before RCPT)" },
	{ "smtpd.line_too_long", P, "500 5.5.2", "a command line is longer than 512 octets" },
	{ "smtpd.bare_newline", P, "554 5.5.2", "a bare CR or LF in a command or in DATA (SMTP smuggling): the message is refused" },
	{ "smtpd.text_line", P, "554 5.6.0", "a text line in DATA is longer than 1000 octets" },
	{ "smtpd.too_large", P, "552 5.3.4", "the message is larger than the announced SIZE limit" },
	{ "smtpd.relay_denied", P, "550 5.7.1", "the recipient is not a mailbox of this gateway (never an open relay)" },
	{ "smtpd.no_recipients", P, "554 5.5.1", "DATA without an accepted recipient" },
	{ "smtpd.too_many_recipients", T, "452 4.5.3", "more recipients than the limit in one transaction" },
	{ "smtpd.tls_required", P, "530 5.7.0", "require_tls: the command needs STARTTLS first" },
	{ "smtpd.tls_unavailable", P, "502 5.5.1", "STARTTLS is not offered (no certificate) or TLS is already active" },
	{ "smtpd.tls_failed", T, "454 4.7.0", "the TLS handshake failed" },
	{ "smtpd.access_denied", P, "554 5.7.1", "the client's address is not in client_networks" },
	{ "smtpd.too_many_connections", T, "421 4.7.0", "the connection limit (total or per address) is reached" },
	{ "smtpd.too_many_errors", T, "421 4.7.0", "too many refused or junk commands in one session" },
	{ "smtpd.timeout", T, "421 4.4.2", "the client was silent longer than the command or data timeout" },
	{ "smtpd.shutdown", T, "421 4.3.2", "the gateway is shutting down" },

	/* spool: the gateway's durable queue */
	{ "spool.full", T, "452 4.3.1", "the spool is over its quota (bytes or messages): the sender retries later" },
	{ "spool.no_space", T, "452 4.3.1", "the file system is full or over its quota" },
	{ "spool.io", T, "451 4.3.0", "a spool file could not be written, synced or renamed" },

	/* alert: service alerts (telemail-mailgw) */
	{ "alert.not_found", P, "554 5.3.0", "no alert has that id" },
	{ "alert.bad_state", P, "554 5.3.0", "the alert cannot make that transition (already acknowledged or resolved)" },

	/* order, supply: replenishment orders and their rule (telemail-mailgw) */
	{ "order.not_found", P, "554 5.3.0", "no supply order has that id" },
	{ "order.bad_state", P, "554 5.3.0", "the order cannot make that transition (only open ships; open or shipped cancels)" },
	{ "supply.bad_value", P, "554 5.3.0", "a supply rule value is out of range (floor over 100 %, a negative lead time)" },

	/* billing: meter readings (telemail-mailgw) */
	{ "billing.bad_period", P, "554 5.3.0", "a billing period is not a month written YYYY-MM" },
	{ "billing.bad_reading", P, "554 5.3.0", "a meter reading id is not SERIAL:SEQ:COUNTER of a stored reading" },
	{ "billing.time_zone", P, "554 5.3.0", "a time zone is not in the system's tz database or its file is not TZif" },

	/* audit: the hash-chained audit log (telemail-mailgw) */
	{ "audit.broken", P, "554 5.3.0", "the audit log's hash chain does not verify (an entry was edited, deleted or reordered)" },

	/* notify: notifications to the service team (telemail-mailgw) */
	{ "notify.webhook", T, "451 4.4.0", "the webhook receiver did not answer 2xx or could not be reached; retried with backoff" },
	{ "notify.secret", P, "554 5.3.0", "the webhook secret file cannot be read or is empty" },
	{ "notify.gave_up", P, "554 5.4.0", "a notification failed on every retry and was marked failed" },
	{ "notify.not_found", P, "554 5.3.0", "no notification has that id" },
	{ "notify.bad_state", P, "554 5.3.0", "the notification is not failed (already sent or still queued): nothing to retry" },

	/* forward: forwarding events to the cloud store over HTTPS (telemail-mailgw) */
	{ "forward.unavailable", T, "451 4.4.0", "the receiver could not be reached, timed out, or answered 408, 429 or 5xx; the batch is retried with backoff" },
	{ "forward.tls", T, "451 4.7.0", "the receiver's TLS certificate did not verify (CA, host name, validity) or the client certificate was refused; nothing was sent" },
	{ "forward.rejected", P, "554 5.6.0", "the receiver answered a 4xx other than 408 and 429: the batch goes to the dead-letter list with the reply" },
	{ "forward.secret", P, "554 5.3.0", "the bearer token or HMAC key file cannot be read or is empty" },
	{ "forward.not_found", P, "554 5.3.0", "no dead-letter item has that id" },
};

#undef P
#undef T
#undef I

const struct tm_reason *tm_reason_table(size_t *count)
{
	*count = sizeof(reasons) / sizeof(reasons[0]);
	return reasons;
}

const struct tm_reason *tm_reason_lookup(const char *code)
{
	if (code == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (strcmp(reasons[i].code, code) == 0)
			return &reasons[i];
	return NULL;
}

bool tm_reason_is_transient(const char *code)
{
	const struct tm_reason *r = tm_reason_lookup(code);
	return r == NULL || r->cls != TM_CLASS_PERMANENT;
}
