/* telemail-mailgw — `enroll`, `revoke`, `devices`, `tenant`: the registry. */
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include <telemail/array.h>
#include <telemail/log.h>
#include <telemail/smime.h>
#include <telemail/time.h>

#include "cli/cli.h"
#include "registry/registry.h"
#include "registry/tenant_scope.h"

#define MAX_SERIALS GW_REGISTRY_MAX_DEVICES

static int store_rc_exit(int rc)
{
	return rc == GW_STORE_RETRY ? GW_EXIT_FAILURE : GW_EXIT_REJECTED;
}

int gw_cmd_enroll(struct gw_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cert", required_argument, NULL, 'c' },
		{ "tenant", required_argument, NULL, 't' },
		{ "role", required_argument, NULL, 'r' },
		{ "serial", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cert = NULL, *tenant = NULL;
	enum gw_cert_role role = GW_ROLE_DEVICE;
	const char **serials = calloc(MAX_SERIALS, sizeof(*serials));
	size_t n = 0;
	struct tm_error err = {0};
	int ch, rc = GW_EXIT_USAGE;
	if (serials == NULL)
		return GW_EXIT_FAILURE;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': cert = optarg; break;
		case 't': tenant = optarg; break;
		case 'r':
			if (gw_registry_role_parse(optarg, &role, &err) < 0) {
				gw_cli_error("--role", &err);
				goto out;
			}
			break;
		case 's':
			if (n == MAX_SERIALS) {
				fprintf(stderr, "telemail-mailgw: at most %d --serial\n", MAX_SERIALS);
				goto out;
			}
			serials[n++] = optarg;
			break;
		default: goto out;
		}
	}
	if (cert == NULL || tenant == NULL || optind != argc) {
		fprintf(stderr, "telemail-mailgw: enroll --cert FILE --tenant T [--role device|collector] [--serial S]...\n");
		goto out;
	}
	rc = GW_EXIT_FAILURE;
	if (gw_cli_store(c) < 0)
		goto out;
	int trc = gw_registry_tenant_check(c->store, tenant, &err);
	if (trc != GW_STORE_OK) {
		gw_cli_error("--tenant", &err);
		rc = store_rc_exit(trc);
		goto out;
	}
	struct tm_cert_info info;
	if (tm_cert_info_file(cert, &info, &err) < 0) {
		gw_cli_error(cert, &err);
		rc = GW_EXIT_REJECTED;
		goto out;
	}
	int src = gw_registry_enroll_file(c->store, cert, role, tenant, serials, n,
					  (int64_t)time(NULL), &err);
	if (src != GW_STORE_OK) {
		gw_cli_error("enroll", &err);
		rc = store_rc_exit(src);
		goto out;
	}
	/* the serial comes from the certificate's subject: escaped like any value */
	struct tm_logline l;
	tm_log_begin(&l, "enrolled");
	tm_log_add(&l, "cert", cert);
	tm_log_add(&l, "role", gw_registry_role_name(role));
	tm_log_add(&l, "tenant", tenant);
	tm_log_add(&l, "serial", info.serial[0] ? info.serial : "-");
	tm_log_add(&l, "fingerprint", info.fingerprint);
	tm_log_addf(&l, "devices", "%zu", role == GW_ROLE_DEVICE ? (size_t)1 : n);
	puts(tm_log_end(&l));
	rc = GW_EXIT_OK;
out:
	free(serials);
	return rc;
}

int gw_cmd_revoke(struct gw_cli *c, int argc, char **argv)
{
	struct tm_error err = {0};
	char fp[GW_SHA256_HEX];
	if (argc != 3 || (strcmp(argv[1], "--cert") != 0 && strcmp(argv[1], "--fingerprint") != 0)) {
		fprintf(stderr, "telemail-mailgw: revoke --cert FILE | --fingerprint HEX\n");
		return GW_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--cert") == 0) {
		struct tm_cert_info info;
		if (tm_cert_info_file(argv[2], &info, &err) < 0) {
			gw_cli_error(argv[2], &err);
			return GW_EXIT_REJECTED;
		}
		memcpy(fp, info.fingerprint, sizeof(fp));
	} else if (gw_registry_fingerprint_norm(argv[2], fp, &err) < 0) {
		gw_cli_error("--fingerprint", &err);
		return GW_EXIT_USAGE;
	}
	if (gw_cli_store(c) < 0)
		return GW_EXIT_FAILURE;
	int rc = gw_registry_revoke(c->store, fp, (int64_t)time(NULL), &err);
	if (rc != GW_STORE_OK) {
		gw_cli_error("revoke", &err);
		return store_rc_exit(rc);
	}
	struct tm_logline l;
	tm_log_begin(&l, "revoked");
	tm_log_add(&l, "fingerprint", fp);
	puts(tm_log_end(&l));
	return GW_EXIT_OK;
}

static void fmt_time(int64_t t, char *buf, size_t n)
{
	if (t == 0)
		snprintf(buf, n, "never");
	else
		tm_time_format(t, buf, n);
}

/* Device rows are collected first: a listing callback must not query the
 * same store handle (the tenant filter does). */
struct dev_list {
	struct gw_device_row *rows;
	size_t n, cap;
};

static int collect_device(void *ctx, const struct gw_device_row *d)
{
	struct dev_list *l = ctx;
	struct gw_device_row *p = tm_array_grow(l->rows, &l->cap, l->n, sizeof(*p), 64, SIZE_MAX);
	if (p == NULL)
		return -1;
	l->rows = p;
	l->rows[l->n++] = *d;
	return 0;
}

/* Issue 14 item 15: the devices collectors could not read, after the
 * registered ones, with the state "unreachable", the reason and since when;
 * scoped like the rest (--tenant T: T's subtree). */
struct unreach_ctx {
	struct gw_cli *c;
	const struct gw_tenant_scope *scope;
	json_t *list;
};

static int print_unreachable(void *arg, const struct gw_unreachable_row *u)
{
	struct unreach_ctx *x = arg;
	if (!gw_tenant_scope_has(x->scope, u->tenant))
		return 0;
	char since[32];
	fmt_time(u->since, since, sizeof(since));
	if (x->list != NULL)
		json_array_append_new(x->list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
			"serial", u->serial, "tenant", u->tenant, "state", "unreachable", "address",
			u->address, "reason", u->reason, "since", since, "detail", u->detail,
			"collector", u->fingerprint));
	else
		printf("%-16s %-12s %8s  %-20s  %-20s  %-10s %s reason=%s since=%s: %s\n",
		       u->serial[0] ? u->serial : "-", u->tenant, "-", "-", "-", "unreachable", u->address,
		       u->reason, since, u->detail[0] ? u->detail : "-");
	return 0;
}

int gw_cmd_devices(struct gw_cli *c, int argc, char **argv)
{
	const char *tenant = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			c->json = true;
		else if (strcmp(argv[i], "--tenant") == 0 && i + 1 < argc)
			tenant = argv[++i];
		else {
			fprintf(stderr, "telemail-mailgw: devices [--json] [--tenant T]\n");
			return GW_EXIT_USAGE;
		}
	}
	if (gw_cli_store(c) < 0)
		return GW_EXIT_FAILURE;
	struct tm_error err = {0};
	struct dev_list l = {0};
	int rc = gw_registry_list_devices(c->store, collect_device, &l, &err);
	if (rc != GW_STORE_OK) {
		gw_cli_error("devices", &err);
		free(l.rows);
		return GW_EXIT_FAILURE;
	}
	/* the viewer's tenants, read once (not a walk up the tree per device) */
	struct gw_tenant_scope scope;
	if ((tenant != NULL && (rc = gw_registry_tenant_check(c->store, tenant, &err)) != 0) ||
	    (rc = gw_tenant_scope_load(c->store, tenant, &scope, &err)) != 0) {
		gw_cli_error("--tenant", &err);
		free(l.rows);
		return store_rc_exit(rc);
	}
	json_t *list = c->json ? json_array() : NULL;
	if (!c->json)
		printf("%-16s %-12s %8s  %-20s  %-20s  %-10s %s\n", "SERIAL", "TENANT", "LAST SEQ",
		       "LAST SEEN", "LAST RECEIVED", "STATE", "MODEL");
	for (size_t i = 0; i < l.n; i++) {
		const struct gw_device_row *d = &l.rows[i];
		if (!gw_tenant_scope_has(&scope, d->tenant))
			continue;
		char seen[40], recv[32];
		if (d->last_seen == 0)
			fmt_time(0, seen, sizeof(seen));
		else
			gw_store_format_utc(d->last_seen, d->last_seen_nsec, seen, sizeof(seen));
		fmt_time(d->last_received, recv, sizeof(recv));
		if (list != NULL)
			json_array_append_new(list, json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s}",
				"serial", d->serial, "tenant", d->tenant, "last_seq", (json_int_t)d->last_seq,
				"last_report_id", d->last_report_id, "last_seen", seen, "last_received", recv,
				"state", d->state, "model", d->model));
		else
			printf("%-16s %-12s %8" PRId64 "  %-20s  %-20s  %-10s %s\n", d->serial, d->tenant,
			       d->last_seq, seen, recv, d->state[0] ? d->state : "-",
			       d->model[0] ? d->model : "-");
	}
	struct unreach_ctx ux = { c, &scope, list };
	if (gw_store_unreachable_list(c->store, print_unreachable, &ux, &err) != GW_STORE_OK)
		gw_cli_error("devices", &err);
	if (list != NULL) {
		json_dumpf(list, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(list);
	}
	gw_tenant_scope_fini(&scope);
	free(l.rows);
	return GW_EXIT_OK;
}

static int print_tenant(void *ctx, const struct gw_tenant_row *t)
{
	json_t *list = ctx;
	if (list != NULL)
		json_array_append_new(list, json_pack("{s:s, s:s}", "name", t->name, "parent", t->parent));
	else
		printf("%-24s %s\n", t->name, t->parent[0] ? t->parent : "-");
	return 0;
}

int gw_cmd_tenant(struct gw_cli *c, int argc, char **argv)
{
	struct tm_error err = {0};
	const char *sub = argc > 1 ? argv[1] : "";
	if (strcmp(sub, "add") == 0 && (argc == 3 || (argc == 5 && strcmp(argv[3], "--parent") == 0))) {
		if (gw_cli_store(c) < 0)
			return GW_EXIT_FAILURE;
		const char *parent = argc == 5 ? argv[4] : NULL;
		int rc = parent != NULL ? gw_registry_tenant_check(c->store, parent, &err) : GW_STORE_OK;
		if (rc != GW_STORE_OK) {
			gw_cli_error("--parent", &err);
			return store_rc_exit(rc);
		}
		rc = gw_registry_tenant_add(c->store, argv[2], parent, (int64_t)time(NULL), &err);
		if (rc != GW_STORE_OK) {
			gw_cli_error("tenant add", &err);
			return store_rc_exit(rc);
		}
		printf("tenant %s added%s%s\n", argv[2], parent ? " under " : "", parent ? parent : "");
		return GW_EXIT_OK;
	}
	if (strcmp(sub, "list") == 0 && (argc == 2 || (argc == 3 && strcmp(argv[2], "--json") == 0))) {
		if (gw_cli_store(c) < 0)
			return GW_EXIT_FAILURE;
		json_t *list = argc == 3 ? json_array() : NULL;
		if (list == NULL)
			printf("%-24s %s\n", "TENANT", "PARENT");
		int rc = gw_registry_list_tenants(c->store, print_tenant, list, &err);
		if (list != NULL) {
			json_dumpf(list, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
			putchar('\n');
			json_decref(list);
		}
		if (rc != GW_STORE_OK) {
			gw_cli_error("tenant list", &err);
			return GW_EXIT_FAILURE;
		}
		return GW_EXIT_OK;
	}
	fprintf(stderr, "telemail-mailgw: tenant add T [--parent P] | tenant list [--json]\n");
	return GW_EXIT_USAGE;
}
