/* telemail-report: the wire contract from the command line.
 *
 * Validate, normalize and reformat reports; seal a report into an S/MIME
 * message and open one again. It uses libtelemail exactly as the agent and
 * the gateway do, so what it accepts they accept. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/normalize.h>
#include <telemail/report.h>
#include <telemail/smime.h>

#define MAX_INPUT (4u << 20) /* larger than any limit below it, so the limit's own code shows */
#define MAX_FILES 8

static const char usage_text[] =
	"usage: telemail-report COMMAND [OPTIONS] [FILE...]\n"
	"\n"
	"Commands:\n"
	"  validate FILE...      check reports against schema v1; one line per file:\n"
	"                        \"FILE: ok\" or \"FILE: <reason.code>: <message>\";\n"
	"                        exit 0 when all are valid, 1 otherwise\n"
	"  normalize FILE        print the canonical JSON record of a report\n"
	"  format FILE           print the report as deterministic YAML\n"
	"  seal [OPTIONS] FILE   sign and encrypt a report into an RFC 5322 message\n"
	"      --cert PEM --key PEM   the device's certificate and key (signer)\n"
	"      --chain PEM            intermediate certificates to include (optional)\n"
	"      --to-cert PEM          a gateway certificate (repeat for key rotation)\n"
	"      --from ADDR --to ADDR  the device and gateway mailboxes\n"
	"      --detached             multipart/signed instead of opaque signed-data\n"
	"  open [OPTIONS] FILE   decrypt and verify a message; print the signer and the report\n"
	"      --cert PEM --key PEM   a gateway certificate and key (repeat: rotation)\n"
	"      --ca PEM               trusted CA certificates\n"
	"      --crl PEM              a CRL to check revocation against (optional)\n"
	"      --allow-cbc            accept AES-CBC enveloped-data from older senders\n"
	"      --normalize            print the canonical JSON instead of the YAML\n"
	"  reasons               list every reason code with its class and SMTP reply\n"
	"\n"
	"Common options: -o FILE (write output there instead of stdout), -h, --help, --version\n"
	"Exit status: 0 ok, 1 the input was rejected, 2 usage or setup error.\n";

struct cli {
	const char *certs[MAX_FILES], *keys[MAX_FILES], *to_certs[MAX_FILES];
	size_t n_certs, n_keys, n_to_certs;
	const char *chain, *ca, *crl, *from, *to, *output;
	int detached, allow_cbc, normalize;
};

static int fail(const char *what, const struct tm_error *err)
{
	fprintf(stderr, "telemail-report: %s: %s: %s\n", what, err->reason ? err->reason : "?",
		err->msg);
	return 1;
}

static int write_output(const struct cli *c, const void *data, size_t len)
{
	FILE *f = stdout;
	if (c->output && (f = fopen(c->output, "wb")) == NULL) {
		perror(c->output);
		return 2;
	}
	size_t n = fwrite(data, 1, len, f);
	int bad = n != len || (f == stdout ? fflush(f) : fclose(f)) != 0;
	if (bad)
		fprintf(stderr, "telemail-report: cannot write output\n");
	return bad ? 2 : 0;
}

static int read_report(const char *path, struct tm_report **rep, struct tm_error *err)
{
	struct tm_buf in;
	tm_buf_init(&in);
	int rc = tm_buf_read_file(&in, path, MAX_INPUT, err);
	if (rc == 0)
		rc = tm_report_read(in.data, in.len, NULL, rep, err);
	tm_buf_fini(&in);
	return rc;
}

static int cmd_validate(int argc, char **argv)
{
	int bad = 0;
	for (int i = 0; i < argc; i++) {
		struct tm_error err = {0};
		struct tm_report *rep = NULL;
		if (read_report(argv[i], &rep, &err) == 0)
			printf("%s: ok\n", argv[i]);
		else {
			printf("%s: %s: %s\n", argv[i], err.reason, err.msg);
			bad = 1;
		}
		tm_report_free(rep);
	}
	return bad;
}

/* normalize and format: read one report, write one rendering of it. */
static int cmd_render(const struct cli *c, const char *path, bool json)
{
	struct tm_error err = {0};
	struct tm_report *rep = NULL;
	struct tm_buf out;
	tm_buf_init(&out);
	int rc = 1;
	if (read_report(path, &rep, &err) < 0) {
		fail(path, &err);
		goto out;
	}
	if ((json ? tm_report_normalize(rep, &out, &err) : tm_report_write_yaml(rep, &out, &err)) < 0) {
		fail(path, &err);
		goto out;
	}
	if (json)
		tm_buf_append_str(&out, "\n");
	rc = write_output(c, out.data, out.len);
out:
	tm_buf_fini(&out);
	tm_report_free(rep);
	return rc;
}

static int cmd_seal(const struct cli *c, const char *path)
{
	struct tm_error err = {0};
	struct tm_identity *id = NULL;
	struct tm_certlist *to = tm_certlist_new();
	struct tm_report *rep = NULL;
	struct tm_buf in, out;
	tm_buf_init(&in);
	tm_buf_init(&out);
	int rc = 2;
	if (c->n_certs != 1 || c->n_keys != 1 || c->n_to_certs == 0 || !c->from || !c->to) {
		fprintf(stderr, "telemail-report: seal needs --cert, --key, --to-cert, --from and --to\n");
		goto out;
	}
	if (to == NULL || tm_identity_load(c->certs[0], c->keys[0], c->chain, &id, &err) < 0) {
		fail("signer", &err);
		goto out;
	}
	for (size_t i = 0; i < c->n_to_certs; i++)
		if (tm_certlist_add_file(to, c->to_certs[i], &err) < 0) {
			fail("recipient", &err);
			goto out;
		}
	rc = 1;
	/* never seal what the gateway would reject */
	if (tm_buf_read_file(&in, path, MAX_INPUT, &err) < 0 ||
	    tm_report_read(in.data, in.len, NULL, &rep, &err) < 0) {
		fail(path, &err);
		goto out;
	}
	struct tm_seal_opts o = {
		.signer = id, .recipients = to, .detached = c->detached, .from = c->from, .to = c->to,
	};
	if (tm_smime_seal(&o, in.data, in.len, &out, &err) < 0) {
		fail("seal", &err);
		goto out;
	}
	rc = write_output(c, out.data, out.len);
out:
	tm_report_free(rep);
	tm_buf_fini(&in);
	tm_buf_fini(&out);
	tm_identity_free(id);
	tm_certlist_free(to);
	return rc;
}

static int cmd_open(const struct cli *c, const char *path)
{
	struct tm_error err = {0};
	struct tm_keyring *kr = tm_keyring_new();
	struct tm_trust *trust = NULL;
	struct tm_report *rep = NULL;
	struct tm_opened op;
	struct tm_buf in, out;
	tm_opened_init(&op);
	tm_buf_init(&in);
	tm_buf_init(&out);
	int rc = 2;
	if (c->n_certs == 0 || c->n_certs != c->n_keys || !c->ca) {
		fprintf(stderr, "telemail-report: open needs --cert/--key pairs and --ca\n");
		goto out;
	}
	for (size_t i = 0; kr && i < c->n_certs; i++)
		if (tm_keyring_add_files(kr, c->certs[i], c->keys[i], &err) < 0) {
			fail("gateway key", &err);
			goto out;
		}
	if (kr == NULL || tm_trust_load(c->ca, c->crl, &trust, &err) < 0) {
		fail("trust", &err);
		goto out;
	}
	if (tm_buf_read_file(&in, path, MAX_INPUT, &err) < 0) {
		fail(path, &err);
		goto out;
	}
	rc = 1;
	struct tm_open_opts o = { .keys = kr, .trust = trust, .allow_cbc = c->allow_cbc };
	if (tm_smime_open(&o, in.data, in.len, &op, &err) < 0 ||
	    tm_report_read(op.content.data, op.content.len, NULL, &rep, &err) < 0) {
		fail(path, &err);
		goto out;
	}
	if (strcmp(rep->serial, op.serial) != 0) {
		fprintf(stderr, "telemail-report: %s: report serial %s is not the signer's %s\n",
			path, rep->serial, op.serial);
		goto out;
	}
	fprintf(stderr, "message-id=%s signer=\"%s\" serial=%s fingerprint=%s signature=%s\n",
		op.message_id, op.subject, op.serial, op.fingerprint,
		op.detached ? "detached" : "opaque");
	if (c->normalize) {
		if (tm_report_normalize(rep, &out, &err) < 0) {
			fail(path, &err);
			goto out;
		}
		tm_buf_append_str(&out, "\n");
		rc = write_output(c, out.data, out.len);
	} else {
		rc = write_output(c, op.content.data, op.content.len);
	}
out:
	tm_report_free(rep);
	tm_opened_fini(&op);
	tm_buf_fini(&in);
	tm_buf_fini(&out);
	tm_trust_free(trust);
	tm_keyring_free(kr);
	return rc;
}

static int cmd_reasons(void)
{
	static const char *cls[] = { "permanent", "transient", "internal" };
	size_t n;
	const struct tm_reason *t = tm_reason_table(&n);
	for (size_t i = 0; i < n; i++)
		printf("%-28s %-9s %s  %s\n", t[i].code, cls[t[i].cls], t[i].smtp, t[i].summary);
	return 0;
}

static int add_file(const char **list, size_t *n, const char *v)
{
	if (*n == MAX_FILES) {
		fprintf(stderr, "telemail-report: at most %d of each file option\n", MAX_FILES);
		return -1;
	}
	list[(*n)++] = v;
	return 0;
}

int main(int argc, char **argv)
{
	enum { O_CERT = 256, O_KEY, O_CHAIN, O_TO_CERT, O_FROM, O_TO, O_CA, O_CRL, O_VERSION };
	static const struct option opts[] = {
		{ "cert", required_argument, NULL, O_CERT },
		{ "key", required_argument, NULL, O_KEY },
		{ "chain", required_argument, NULL, O_CHAIN },
		{ "to-cert", required_argument, NULL, O_TO_CERT },
		{ "from", required_argument, NULL, O_FROM },
		{ "to", required_argument, NULL, O_TO },
		{ "ca", required_argument, NULL, O_CA },
		{ "crl", required_argument, NULL, O_CRL },
		{ "detached", no_argument, NULL, 'd' },
		{ "allow-cbc", no_argument, NULL, 'c' },
		{ "normalize", no_argument, NULL, 'n' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	struct cli c = {0};
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		printf("telemail-report %s\n", TM_VERSION);
		return 0;
	}
	if (argc < 2) {
		fputs(usage_text, stderr);
		return 2;
	}
	const char *cmd = argv[1];
	argc--;
	argv++;
	int ch;
	while ((ch = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		int bad = 0;
		switch (ch) {
		case O_CERT: bad = add_file(c.certs, &c.n_certs, optarg); break;
		case O_KEY: bad = add_file(c.keys, &c.n_keys, optarg); break;
		case O_TO_CERT: bad = add_file(c.to_certs, &c.n_to_certs, optarg); break;
		case O_CHAIN: c.chain = optarg; break;
		case O_FROM: c.from = optarg; break;
		case O_TO: c.to = optarg; break;
		case O_CA: c.ca = optarg; break;
		case O_CRL: c.crl = optarg; break;
		case 'd': c.detached = 1; break;
		case 'c': c.allow_cbc = 1; break;
		case 'n': c.normalize = 1; break;
		case 'o': c.output = optarg; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: bad = 1;
		}
		if (bad) {
			fputs(usage_text, stderr);
			return 2;
		}
	}
	int nfiles = argc - optind;
	char **files = argv + optind;
	if (strcmp(cmd, "reasons") == 0 && nfiles == 0)
		return cmd_reasons();
	if (strcmp(cmd, "validate") == 0 && nfiles >= 1)
		return cmd_validate(nfiles, files);
	if (nfiles == 1) {
		if (strcmp(cmd, "normalize") == 0)
			return cmd_render(&c, files[0], true);
		if (strcmp(cmd, "format") == 0)
			return cmd_render(&c, files[0], false);
		if (strcmp(cmd, "seal") == 0)
			return cmd_seal(&c, files[0]);
		if (strcmp(cmd, "open") == 0)
			return cmd_open(&c, files[0]);
	}
	fprintf(stderr, "telemail-report: unknown command or wrong number of files: %s\n", cmd);
	fputs(usage_text, stderr);
	return 2;
}
