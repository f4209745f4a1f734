/* S/MIME seal and open (parser/smime/smime.c): the whole wire format, both ways. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include <telemail/error.h>
#include <telemail/smime.h>

#include "smime/cms.h"
#include "common.h"
#include "smime/mime.h"

static const char YAML[] =
	"schema_version: 1\n"
	"report:\n"
	"  id: \"3f6c1a2e-9b4d-4c1e-8a7f-0d2b5e6c7a81\"\n"
	"  seq: 7\n"
	"  kind: periodic\n"
	"device:\n"
	"  serial: XK100001\n";

struct pki {
	struct tm_identity *dev;
	struct tm_certlist *to;
	struct tm_keyring *keys;
	struct tm_trust *trust;
};

static void pki_load(struct pki *k, const char *dev, const char *gw)
{
	char c[128], kf[128];
	struct tm_error err = {0};
	snprintf(c, sizeof(c), "%s.pem", dev);
	snprintf(kf, sizeof(kf), "%s.key", dev);
	char *cp = tm_test_pki(c), *kp = tm_test_pki(kf);
	cr_assert_eq(tm_identity_load(cp, kp, NULL, &k->dev, &err), 0, "%s", err.msg);
	free(cp);
	free(kp);
	snprintf(c, sizeof(c), "%s.pem", gw);
	snprintf(kf, sizeof(kf), "%s.key", gw);
	cp = tm_test_pki(c);
	kp = tm_test_pki(kf);
	k->to = tm_certlist_new();
	k->keys = tm_keyring_new();
	cr_assert_eq(tm_certlist_add_file(k->to, cp, &err), 0, "%s", err.msg);
	cr_assert_eq(tm_keyring_add_files(k->keys, cp, kp, &err), 0, "%s", err.msg);
	free(cp);
	free(kp);
	char *ca = tm_test_pki("ca.pem"), *crl = tm_test_pki("crl.pem");
	cr_assert_eq(tm_trust_load(ca, crl, &k->trust, &err), 0, "%s", err.msg);
	free(ca);
	free(crl);
}

static void pki_free(struct pki *k)
{
	tm_identity_free(k->dev);
	tm_certlist_free(k->to);
	tm_keyring_free(k->keys);
	tm_trust_free(k->trust);
}

static void seal(const struct pki *k, bool detached, const char *msgid, struct tm_buf *msg)
{
	struct tm_seal_opts so = {
		.signer = k->dev,
		.recipients = k->to,
		.detached = detached,
		.from = "xk100001@devices.example",
		.to = "telemail@gateway.example",
		.message_id = msgid,
		.date = 1730786400,
	};
	struct tm_error err = {0};
	cr_assert_eq(tm_smime_seal(&so, (const uint8_t *)YAML, strlen(YAML), msg, &err), 0,
		     "%s: %s", err.reason, err.msg);
}

static int open_msg(const struct pki *k, const struct tm_buf *msg, struct tm_opened *op,
		    struct tm_error *err)
{
	struct tm_open_opts oo = { .keys = k->keys, .trust = k->trust };
	return tm_smime_open(&oo, msg->data, msg->len, op, err);
}

static void roundtrip(const char *dev, const char *gw, bool detached)
{
	struct pki k;
	pki_load(&k, dev, gw);
	struct tm_buf msg;
	tm_buf_init(&msg);
	seal(&k, detached, "<r1@devices.example>", &msg);
	struct tm_opened op;
	tm_opened_init(&op);
	struct tm_error err = {0};
	int64_t now = (int64_t)time(NULL);
	cr_assert_eq(open_msg(&k, &msg, &op, &err), 0, "%s/%s/%d: %s: %s", dev, gw, detached,
		     err.reason, err.msg);
	cr_assert_eq(op.content.len, strlen(YAML));
	cr_assert_eq(memcmp(op.content.data, YAML, op.content.len), 0);
	cr_assert_str_eq(op.serial, "XK100001");
	cr_assert_str_eq(op.message_id, "r1@devices.example");
	cr_assert_eq(op.detached, detached);
	cr_assert(!op.cbc);
	cr_assert_eq(strlen(op.fingerprint), 64);
	cr_assert_not_null(strstr(op.subject, "serialNumber=XK100001"), "%s", op.subject);
	cr_assert(op.signing_time >= now - 60 && op.signing_time <= now + 60);
	cr_assert_gt(op.signer_der.len, 100);
	tm_opened_fini(&op);
	tm_buf_fini(&msg);
	pki_free(&k);
}

Test(smime, roundtrip_ec_gateway_opaque)
{
	roundtrip("dev-XK100001", "gw-ec", false);
	roundtrip("dev-rsa-XK100001", "gw-ec", false);
}

Test(smime, roundtrip_ec_gateway_detached)
{
	roundtrip("dev-XK100001", "gw-ec", true);
	roundtrip("dev-rsa-XK100001", "gw-ec", true);
}

Test(smime, roundtrip_rsa_gateway_opaque)
{
	roundtrip("dev-XK100001", "gw-rsa", false);
	roundtrip("dev-rsa-XK100001", "gw-rsa", false);
}

Test(smime, roundtrip_rsa_gateway_detached)
{
	roundtrip("dev-XK100001", "gw-rsa", true);
	roundtrip("dev-rsa-XK100001", "gw-rsa", true);
}

Test(smime, fingerprint_matches_openssl_x509)
{
	struct pki k;
	pki_load(&k, "dev-XK100002", "gw-ec");
	struct tm_buf msg;
	tm_buf_init(&msg);
	seal(&k, false, NULL, &msg);
	struct tm_opened op;
	tm_opened_init(&op);
	struct tm_error err = {0};
	cr_assert_eq(open_msg(&k, &msg, &op, &err), 0, "%s", err.msg);

	char *dir = tm_test_tmpdir(), *cert = tm_test_pki("dev-XK100002.pem");
	char out[256];
	snprintf(out, sizeof(out), "%s/fp", dir);
	cr_assert_eq(tm_test_sh("openssl x509 -noout -fingerprint -sha256 -in '%s' > '%s'", cert, out), 0);
	struct tm_buf fp;
	tm_buf_init(&fp);
	tm_test_read(out, &fp);
	/* "sha256 Fingerprint=AB:CD:…" → "abcd…" */
	char want[65];
	size_t n = 0;
	const char *p = strchr((char *)fp.data, '=');
	cr_assert_not_null(p);
	for (p++; *p && *p != '\n' && n < 64; p++)
		if (*p != ':')
			want[n++] = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
	want[n] = '\0';
	cr_assert_str_eq(op.fingerprint, want);
	cr_assert_str_eq(op.serial, "XK100002");
	tm_buf_fini(&fp);
	free(cert);
	tm_test_rmtree(dir);
	free(dir);
	tm_opened_fini(&op);
	tm_buf_fini(&msg);
	pki_free(&k);
}

/* The header section of a message (up to the first empty line). */
static char *headers_of(const struct tm_buf *msg)
{
	const char *end = strstr((const char *)msg->data, "\r\n\r\n");
	cr_assert_not_null(end);
	size_t n = (size_t)(end - (const char *)msg->data) + 2;
	char *h = malloc(n + 1);
	memcpy(h, msg->data, n);
	h[n] = '\0';
	return h;
}

Test(smime, wire_format_of_a_sealed_message)
{
	struct pki k;
	pki_load(&k, "dev-XK100001", "gw-ec");
	struct tm_buf msg;
	tm_buf_init(&msg);
	seal(&k, false, NULL, &msg);
	for (size_t i = 0; i < msg.len; i++) {
		if (msg.data[i] == '\n')
			cr_assert(i > 0 && msg.data[i - 1] == '\r', "bare LF at %zu", i);
		if (msg.data[i] == '\r')
			cr_assert(i + 1 < msg.len && msg.data[i + 1] == '\n', "bare CR at %zu", i);
	}
	char *h = headers_of(&msg);
	cr_assert_not_null(strstr(h, "From: xk100001@devices.example\r\n"), "%s", h);
	cr_assert_not_null(strstr(h, "To: telemail@gateway.example\r\n"), "%s", h);
	cr_assert_not_null(strstr(h, "Date: Tue, 05 Nov 2024 06:00:00 +0000\r\n"), "%s", h);
	cr_assert_not_null(strstr(h, "MIME-Version: 1.0\r\n"), "%s", h);
	cr_assert_not_null(strstr(h, "smime-type=authEnveloped-data"), "%s", h);
	/* a generated Message-ID: 32 hex digits at the From domain */
	const char *mid = strstr(h, "Message-ID: <");
	cr_assert_not_null(mid, "%s", h);
	mid += strlen("Message-ID: <");
	cr_assert_eq(strspn(mid, "0123456789abcdef"), 32, "%s", mid);
	cr_assert_eq(strncmp(mid + 32, "@devices.example>\r\n", 19), 0, "%s", mid);
	/* the Subject is fixed and says nothing about the device */
	cr_assert_not_null(strstr(h, "Subject: telemail report\r\n"), "%s", h);
	cr_assert_null(strstr(h, "XK100001"), "the serial leaks into the headers: %s", h);
	/* two messages get different Message-IDs */
	struct tm_buf msg2;
	tm_buf_init(&msg2);
	seal(&k, false, NULL, &msg2);
	char *h2 = headers_of(&msg2);
	cr_assert_str_neq(strstr(h, "Message-ID:"), strstr(h2, "Message-ID:"));
	free(h);
	free(h2);
	tm_buf_fini(&msg);
	tm_buf_fini(&msg2);
	pki_free(&k);
}

Test(smime, seal_refuses_bad_header_values)
{
	struct pki k;
	pki_load(&k, "dev-XK100001", "gw-ec");
	struct tm_buf msg;
	tm_buf_init(&msg);
	struct tm_seal_opts so = { .signer = k.dev, .recipients = k.to, .from = "device-without-domain",
				   .to = "telemail@gateway.example" };
	struct tm_error err = {0};
	cr_assert_eq(tm_smime_seal(&so, (const uint8_t *)YAML, strlen(YAML), &msg, &err), -1);
	cr_assert_str_eq(err.reason, "mime.bad_header");
	cr_assert_not_null(strstr(err.msg, "no domain"), "%s", err.msg);
	so.from = "a@b.example\r\nBcc: x@y.example";
	so.message_id = "<x@b.example>";
	cr_assert_eq(tm_smime_seal(&so, (const uint8_t *)YAML, strlen(YAML), &msg, &err), -1);
	cr_assert_str_eq(err.reason, "mime.bad_header");
	so.from = "a@b.example";
	so.signer = NULL;
	cr_assert_eq(tm_smime_seal(&so, (const uint8_t *)YAML, strlen(YAML), &msg, &err), -1);
	cr_assert_str_eq(err.reason, "internal.bug");
	tm_buf_fini(&msg);
	pki_free(&k);
}

/* Wrap an entity into an envelope message by hand. */
static void envelope_message(const struct pki *k, const struct tm_buf *entity, struct tm_buf *msg)
{
	struct tm_buf env, body;
	tm_buf_init(&env);
	tm_buf_init(&body);
	struct tm_error err = {0};
	cr_assert_eq(tm_cms_encrypt(k->to, entity->data, entity->len, &env, &err), 0, "%s", err.msg);
	cr_assert_eq(tm_mime_build_pkcs7("authEnveloped-data", env.data, env.len, &body, &err), 0);
	struct tm_mime_envelope e = { .from = "a@devices.example", .to = "gw@gateway.example",
				      .message_id = "<m@devices.example>", .date = 1730786400,
				      .subject = "telemail report" };
	cr_assert_eq(tm_mime_build_message(&e, body.data, body.len, msg, &err), 0, "%s", err.msg);
	tm_buf_fini(&env);
	tm_buf_fini(&body);
}

static void plain_message(const struct tm_buf *entity, struct tm_buf *msg)
{
	struct tm_mime_envelope e = { .from = "a@devices.example", .to = "gw@gateway.example",
				      .message_id = "<m@devices.example>", .date = 1730786400,
				      .subject = "telemail report" };
	struct tm_error err = {0};
	cr_assert_eq(tm_mime_build_message(&e, entity->data, entity->len, msg, &err), 0, "%s", err.msg);
}

static void leaf(const char *type, struct tm_buf *out)
{
	struct tm_error err = {0};
	cr_assert_eq(tm_mime_build_leaf(type, (const uint8_t *)YAML, strlen(YAML), out, &err), 0);
}

static void opaque_signed(const struct pki *k, const char *type, struct tm_buf *out)
{
	struct tm_buf l, sig;
	tm_buf_init(&l);
	tm_buf_init(&sig);
	leaf(type, &l);
	struct tm_error err = {0};
	cr_assert_eq(tm_cms_sign(k->dev, l.data, l.len, false, &sig, &err), 0, "%s", err.msg);
	cr_assert_eq(tm_mime_build_pkcs7("signed-data", sig.data, sig.len, out, &err), 0);
	tm_buf_fini(&l);
	tm_buf_fini(&sig);
}

static void expect_open_fails(const struct pki *k, const struct tm_buf *msg, const char *reason,
			      const char *msg_part)
{
	struct tm_opened op;
	tm_opened_init(&op);
	struct tm_error err = {0};
	cr_assert_eq(open_msg(k, msg, &op, &err), -1, "opened, expected %s", reason);
	cr_assert_str_eq(err.reason, reason, "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, msg_part), "%s", err.msg);
	cr_assert_eq(op.content.len, 0);
	/* the Message-ID is known once the message parsed: the gateway logs and
	 * quarantines refused messages under it */
	cr_assert_not_null(strstr(op.message_id, "@devices.example"), "message_id '%s'", op.message_id);
	tm_opened_fini(&op);
}

Test(smime, plain_text_message_is_not_encrypted)
{
	struct pki k;
	pki_load(&k, "dev-XK100001", "gw-ec");
	struct tm_buf ent, msg;
	tm_buf_init(&ent);
	tm_buf_init(&msg);
	tm_buf_append_str(&ent, "Content-Type: text/plain\r\n\r\nhello\r\n");
	plain_message(&ent, &msg);
	expect_open_fails(&k, &msg, "smime.not_encrypted", "text/plain");
	tm_buf_fini(&ent);
	tm_buf_fini(&msg);
	pki_free(&k);
}

Test(smime, signed_only_message_is_not_encrypted)
{
	struct pki k;
	pki_load(&k, "dev-XK100001", "gw-ec");
	struct tm_buf ent, msg;
	tm_buf_init(&ent);
	tm_buf_init(&msg);
	opaque_signed(&k, "application/yaml", &ent);
	plain_message(&ent, &msg);
	expect_open_fails(&k, &msg, "smime.not_encrypted", "smime-type=signed-data");
	/* a clear-signed one too */
	struct tm_buf l, sig;
	tm_buf_init(&l);
	tm_buf_init(&sig);
	leaf("application/yaml", &l);
	struct tm_error err = {0};
	cr_assert_eq(tm_cms_sign(k.dev, l.data, l.len, true, &sig, &err), 0);
	tm_buf_reset(&ent);
	tm_buf_reset(&msg);
	cr_assert_eq(tm_mime_build_signed(l.data, l.len, sig.data, sig.len, &ent, &err), 0);
	plain_message(&ent, &msg);
	expect_open_fails(&k, &msg, "smime.not_encrypted", "multipart/signed");
	tm_buf_fini(&l);
	tm_buf_fini(&sig);
	tm_buf_fini(&ent);
	tm_buf_fini(&msg);
	pki_free(&k);
}

Test(smime, encrypted_but_unsigned)
{
	struct pki k;
	pki_load(&k, "dev-XK100001", "gw-ec");
	struct tm_buf ent, msg;
	tm_buf_init(&ent);
	tm_buf_init(&msg);
	leaf("application/yaml", &ent);
	envelope_message(&k, &ent, &msg);
	expect_open_fails(&k, &msg, "smime.not_signed", "application/yaml");
	tm_buf_fini(&ent);
	tm_buf_fini(&msg);
	pki_free(&k);
}

Test(smime, wrong_inner_content_type)
{
	struct pki k;
	pki_load(&k, "dev-XK100001", "gw-ec");
	struct tm_buf ent, msg;
	tm_buf_init(&ent);
	tm_buf_init(&msg);
	opaque_signed(&k, "text/plain", &ent);
	envelope_message(&k, &ent, &msg);
	expect_open_fails(&k, &msg, "smime.content_type", "text/plain");
	tm_buf_fini(&ent);
	tm_buf_fini(&msg);
	pki_free(&k);
}

Test(smime, older_yaml_content_types_are_accepted)
{
	struct pki k;
	pki_load(&k, "dev-XK100001", "gw-ec");
	const char *types[] = { "application/x-yaml", "text/yaml" };
	for (size_t i = 0; i < 2; i++) {
		struct tm_buf ent, msg;
		tm_buf_init(&ent);
		tm_buf_init(&msg);
		opaque_signed(&k, types[i], &ent);
		envelope_message(&k, &ent, &msg);
		struct tm_opened op;
		tm_opened_init(&op);
		struct tm_error err = {0};
		cr_assert_eq(open_msg(&k, &msg, &op, &err), 0, "%s: %s", types[i], err.msg);
		cr_assert_eq(op.content.len, strlen(YAML));
		tm_opened_fini(&op);
		tm_buf_fini(&ent);
		tm_buf_fini(&msg);
	}
	pki_free(&k);
}

Test(smime, sealed_for_another_gateway)
{
	struct pki k, other;
	pki_load(&k, "dev-XK100001", "gw-ec");
	pki_load(&other, "dev-XK100001", "gw-other");
	struct tm_buf msg;
	tm_buf_init(&msg);
	seal(&other, false, NULL, &msg);
	expect_open_fails(&k, &msg, "smime.wrong_recipient", "gateway certificates");
	tm_buf_fini(&msg);
	pki_free(&k);
	pki_free(&other);
}

Test(smime, signer_checks_apply_through_open)
{
	struct pki k, bad;
	pki_load(&k, "dev-XK100001", "gw-ec");
	pki_load(&bad, "dev-revoked", "gw-ec");
	struct tm_buf msg;
	tm_buf_init(&msg);
	seal(&bad, true, NULL, &msg);
	expect_open_fails(&k, &msg, "smime.signer_revoked", "revoked");
	tm_buf_fini(&msg);
	pki_free(&k);
	pki_free(&bad);
}

Test(smime, mime_limits_apply_to_the_message)
{
	struct pki k;
	pki_load(&k, "dev-XK100001", "gw-ec");
	struct tm_buf msg;
	tm_buf_init(&msg);
	seal(&k, false, NULL, &msg);
	struct tm_mime_limits lim = TM_MIME_DEFAULT_LIMITS;
	lim.max_bytes = msg.len - 1;
	struct tm_open_opts oo = { .keys = k.keys, .trust = k.trust, .limits = &lim };
	struct tm_opened op;
	tm_opened_init(&op);
	struct tm_error err = {0};
	cr_assert_eq(tm_smime_open(&oo, msg.data, msg.len, &op, &err), -1);
	cr_assert_str_eq(err.reason, "mime.too_large");
	lim.max_bytes = msg.len;
	cr_assert_eq(tm_smime_open(&oo, msg.data, msg.len, &op, &err), 0, "%s", err.msg);
	tm_opened_fini(&op);
	tm_buf_fini(&msg);
	pki_free(&k);
}

Test(smime, opened_init_and_fini)
{
	struct tm_opened op;
	tm_opened_init(&op);
	cr_assert_eq(op.signing_time, INT64_MIN);
	cr_assert_eq(op.content.len, 0);
	cr_assert_str_eq(op.serial, "");
	tm_opened_fini(&op);
	tm_opened_fini(NULL);
}

/* The gateway opens messages in several worker threads with shared handles. */
struct worker {
	const struct pki *k;
	const struct tm_buf *msg;
	int failures;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < 8; i++) {
		struct tm_opened op;
		tm_opened_init(&op);
		struct tm_error err = {0};
		if (open_msg(w->k, &w->msg[i % 2], &op, &err) < 0 || op.content.len != strlen(YAML) ||
		    strcmp(op.serial, "XK100001") != 0 || op.detached != (i % 2 == 1))
			w->failures++;
		tm_opened_fini(&op);
	}
	return NULL;
}

Test(smime, open_in_threads_with_shared_handles)
{
	struct pki k;
	pki_load(&k, "dev-XK100001", "gw-ec");
	struct tm_buf msg[2];
	tm_buf_init(&msg[0]);
	tm_buf_init(&msg[1]);
	seal(&k, false, NULL, &msg[0]);
	seal(&k, true, NULL, &msg[1]);
	pthread_t th[4];
	struct worker w[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ .k = &k, .msg = msg };
		cr_assert_eq(pthread_create(&th[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(w[i].failures, 0, "worker %d failed %d times", i, w[i].failures);
	}
	tm_buf_fini(&msg[0]);
	tm_buf_fini(&msg[1]);
	pki_free(&k);
}
