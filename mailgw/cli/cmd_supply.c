/* telemail-mailgw — `orders`: replenishment orders and the order rule
 * (issue 18). `orders [list]` lists them (--tenant T: T and its
 * descendants), `orders ship ID` / `orders cancel ID` move one on (audited),
 * `orders rule --tenant T [--lead-time D] [--floor N] [--clear]` sets a
 * tenant's own rule (audited) or, without a change, shows the rule in force
 * and where each part comes from; `orders cartridges` gives each supply's
 * cartridge history (installed, replaced at what level, pages yielded) and
 * per tenant the early replacements (waste). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include <telemail/time.h>

#include "cli/cli.h"
#include "config/config.h"
#include "registry/registry.h"
#include "registry/tenant_scope.h"
#include "service/supply.h"

static const char usage_text[] =
	"orders [list] [--tenant T] [--json] | orders ship ID | orders cancel ID |"
	" orders rule --tenant T [--lead-time D] [--floor N] [--clear] |"
	" orders cartridges [--tenant T] [--json]";

static int usage(void)
{
	fprintf(stderr, "telemail-mailgw: %s\n", usage_text);
	return GW_EXIT_USAGE;
}

static int rc_exit(int rc)
{
	return rc == GW_STORE_RETRY ? GW_EXIT_FAILURE : GW_EXIT_REJECTED;
}

struct list_ctx {
	const struct gw_tenant_scope *scope;
	json_t *list;
};

static int print_order(void *ctx, const struct gw_order_row *o)
{
	struct list_ctx *x = ctx;
	if (!gw_tenant_scope_has(x->scope, o->tenant))
		return 0;
	char opened[32], updated[32], days[24];
	tm_time_format(o->opened_at, opened, sizeof(opened));
	tm_time_format(o->updated_at, updated, sizeof(updated));
	if (o->days_left >= 0)
		snprintf(days, sizeof(days), "%" PRId64, o->days_left);
	else
		snprintf(days, sizeof(days), "-");
	if (x->list != NULL) {
		json_array_append_new(x->list, json_pack(
			"{s:I, s:s, s:s, s:I, s:s, s:I, s:s, s:s, s:I, s:I, s:s, s:s, s:s}",
			"id", (json_int_t)o->id, "tenant", o->tenant, "serial", o->serial,
			"index", (json_int_t)o->idx, "supply", o->subject,
			"cartridge", (json_int_t)o->cartridge, "state", gw_order_state_name(o->state),
			"reason", o->reason, "level", (json_int_t)o->level,
			"days_left", (json_int_t)o->days_left, "opened_at", opened, "updated_at", updated,
			"report_id", o->report_id));
		return 0;
	}
	printf("%5" PRId64 "  %-12s %-14s %-20s %-9s %-9s %5" PRId64 " %5s  %s  %s\n", o->id,
	       o->tenant, o->serial, o->subject, gw_order_state_name(o->state), o->reason, o->level,
	       days, opened, updated);
	return 0;
}

static int orders_list(struct gw_cli *c, const char *tenant, bool json)
{
	if (gw_cli_store(c) < 0)
		return GW_EXIT_FAILURE;
	struct gw_tenant_scope scope;
	struct tm_error err = {0};
	int rc = gw_tenant_scope_load(c->store, tenant, &scope, &err);
	if (rc != 0) {
		gw_cli_error("--tenant", &err);
		return rc_exit(rc);
	}
	struct list_ctx x = { .scope = &scope, .list = json ? json_array() : NULL };
	if (!json)
		printf("%5s  %-12s %-14s %-20s %-9s %-9s %5s %5s  %-20s  %s\n", "ID", "TENANT", "SERIAL",
		       "SUPPLY", "STATE", "REASON", "LEVEL", "DAYS", "OPENED", "UPDATED");
	rc = gw_store_order_list(c->store, NULL, 0, print_order, &x, &err);
	if (x.list != NULL) {
		json_dumpf(x.list, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(x.list);
	}
	gw_tenant_scope_fini(&scope);
	if (rc != GW_STORE_OK) {
		gw_cli_error("orders", &err);
		return GW_EXIT_FAILURE;
	}
	return GW_EXIT_OK;
}

static int orders_change(struct gw_cli *c, const char *verb, const char *id_text)
{
	char *end;
	long long id = strtoll(id_text, &end, 10);
	if (*id_text == '\0' || *end != '\0' || id < 1) {
		fprintf(stderr, "telemail-mailgw: orders %s ID: '%s' is not an order id\n", verb, id_text);
		return GW_EXIT_USAGE;
	}
	if (gw_cli_store(c) < 0)
		return GW_EXIT_FAILURE;
	struct tm_error err = {0};
	int64_t now = (int64_t)time(NULL);
	int rc = strcmp(verb, "ship") == 0
			 ? gw_supply_order_ship(c->store, c->cfg->service, id, NULL, now, &err)
			 : gw_supply_order_cancel(c->store, c->cfg->service, id, NULL, now, &err);
	if (rc != GW_STORE_OK) {
		char what[32];
		snprintf(what, sizeof(what), "orders %s", verb);
		gw_cli_error(what, &err);
		return rc_exit(rc);
	}
	printf("order %lld %s\n", id, strcmp(verb, "ship") == 0 ? "shipped" : "cancelled");
	return GW_EXIT_OK;
}

static int orders_rule(struct gw_cli *c, const char *tenant, const char *lead, const char *floor,
		       bool clear)
{
	struct tm_error err = {0};
	int64_t lead_s = -1, floor_pct = -1;
	if (tenant == NULL)
		return usage();
	if (lead != NULL && gw_config_duration(lead, &lead_s, &err) < 0) {
		gw_cli_error("--lead-time", &err);
		return GW_EXIT_USAGE;
	}
	if (floor != NULL) {
		char *end;
		long long v = strtoll(floor, &end, 10);
		if (*floor == '\0' || *end != '\0' || v < 0 || v > 100) {
			fprintf(stderr, "telemail-mailgw: --floor: '%s' is not a percentage 0..100\n", floor);
			return GW_EXIT_USAGE;
		}
		floor_pct = v;
	}
	if (clear && (lead != NULL || floor != NULL))
		return usage();
	if (gw_cli_store(c) < 0)
		return GW_EXIT_FAILURE;
	int rc = GW_STORE_OK;
	if (clear || lead != NULL || floor != NULL) {
		/* a part not given keeps the tenant's own value, if it has one */
		struct gw_supply_rule_row own;
		bool found = false;
		if (!clear)
			rc = gw_store_supply_rule_get(c->store, tenant, &own, &found, &err);
		if (rc == GW_STORE_OK && found) {
			if (lead == NULL)
				lead_s = own.lead_time;
			if (floor == NULL)
				floor_pct = own.floor;
		}
		if (rc == GW_STORE_OK)
			rc = gw_supply_rule_set(c->store, tenant, lead_s, floor_pct, NULL,
						(int64_t)time(NULL), &err);
	}
	struct gw_supply_rule r;
	if (rc == GW_STORE_OK)
		rc = gw_registry_tenant_check(c->store, tenant, &err);
	if (rc == GW_STORE_OK)
		rc = gw_supply_rule_get(c->store, tenant, &r, &err);
	if (rc != GW_STORE_OK) {
		gw_cli_error("orders rule", &err);
		return rc_exit(rc);
	}
	printf("tenant %s: lead_time %" PRId64 "d (%s), floor %" PRId64 " %% (%s)\n", tenant,
	       r.lead_time / 86400, r.lead_time_from[0] ? r.lead_time_from : "default", r.floor,
	       r.floor_from[0] ? r.floor_from : "default");
	return GW_EXIT_OK;
}

/* ---- cartridges ---- */

struct waste_row {
	char tenant[GW_NAME_MAX + 1];
	struct gw_supply_waste w;
};

struct cart_ctx {
	const struct gw_tenant_scope *scope;
	struct gw_store *st;
	json_t *list;
	struct waste_row *waste;
	size_t n_waste, cap_waste;
	int rc;
	struct tm_error *err;
};

static void cart_time(int64_t t, char *buf, size_t n)
{
	if (t == 0)
		snprintf(buf, n, "-");
	else
		tm_time_format(t, buf, n);
}

static int print_cartridges(void *ctx, const struct gw_supply_row *s)
{
	struct cart_ctx *x = ctx;
	if (!gw_tenant_scope_has(x->scope, s->tenant))
		return 0;
	struct gw_forecast f;
	struct gw_fc_cartridge *c = NULL;
	size_t n = 0;
	x->rc = gw_supply_forecast(x->st, s->serial, s->index, 0, &f, &c, &n, x->err);
	if (x->rc != GW_STORE_OK)
		return 1;
	struct waste_row *w = NULL;
	for (size_t i = 0; i < x->n_waste && w == NULL; i++)
		if (strcmp(x->waste[i].tenant, s->tenant) == 0)
			w = &x->waste[i];
	if (w == NULL) {
		struct waste_row *p = realloc(x->waste, (x->n_waste + 1) * sizeof(*p));
		if (p == NULL) {
			free(c);
			x->rc = tm_error_set(x->err, "internal.nomem", "out of memory");
			return 1;
		}
		x->waste = p;
		w = &x->waste[x->n_waste++];
		memset(w, 0, sizeof(*w));
		snprintf(w->tenant, sizeof(w->tenant), "%s", s->tenant);
	}
	gw_supply_waste_add(c, n, &w->w);
	char supply[GW_ALERT_SUBJECT_MAX];
	snprintf(supply, sizeof(supply), "%.31s%s%.63s#%" PRId64, s->type, s->colorant[0] ? "/" : "",
		 s->colorant, s->index);
	for (size_t i = 0; i < n; i++) {
		char in[32], out[32], pages[24];
		cart_time(c[i].installed_at, in, sizeof(in));
		cart_time(c[i].replaced_at, out, sizeof(out));
		snprintf(pages, sizeof(pages), "%" PRId64, c[i].pages);
		bool early = c[i].replaced_at != 0 && c[i].last_pct > GW_SUPPLY_EARLY_PCT;
		if (x->list != NULL) {
			json_array_append_new(x->list, json_pack(
				"{s:s, s:s, s:s, s:I, s:s, s:I, s:s, s:s, s:I, s:I, s:b}",
				"tenant", s->tenant, "serial", s->serial, "supply", supply,
				"cartridge", (json_int_t)i + 1, "installed_at", in,
				"installed_level", (json_int_t)c[i].installed_pct, "replaced_at", out,
				"replaced_by", c[i].replaced_by, "left_level", (json_int_t)c[i].last_pct,
				"pages", (json_int_t)c[i].pages, "early", early));
			continue;
		}
		printf("%-12s %-14s %-20s %3zu  %-20s %5" PRId64 "  %-20s %-11s %5" PRId64 " %8s  %s\n",
		       s->tenant, s->serial, supply, i + 1, in, c[i].installed_pct, out,
		       c[i].replaced_by[0] ? c[i].replaced_by : "-", c[i].last_pct,
		       c[i].pages >= 0 ? pages : "-", early ? "early" : "-");
	}
	free(c);
	return 0;
}

static int orders_cartridges(struct gw_cli *c, const char *tenant, bool json)
{
	if (gw_cli_store(c) < 0)
		return GW_EXIT_FAILURE;
	struct gw_tenant_scope scope;
	struct tm_error err = {0};
	int rc = gw_tenant_scope_load(c->store, tenant, &scope, &err);
	if (rc != 0) {
		gw_cli_error("--tenant", &err);
		return rc_exit(rc);
	}
	struct cart_ctx x = { .scope = &scope, .st = c->store, .list = json ? json_array() : NULL,
			      .err = &err };
	if (!json)
		printf("%-12s %-14s %-20s %3s  %-20s %5s  %-20s %-11s %5s %8s  %s\n", "TENANT", "SERIAL",
		       "SUPPLY", "#", "INSTALLED", "LEVEL", "REPLACED", "BY", "LEFT", "PAGES", "EARLY");
	rc = gw_store_supply_list(c->store, print_cartridges, &x, &err);
	if (rc > 0)
		rc = x.rc;
	if (rc == GW_STORE_OK) {
		json_t *sum = json ? json_array() : NULL;
		if (!json)
			printf("\n%-12s %8s %6s %8s\n", "TENANT", "REPLACED", "EARLY", "WASTE");
		for (size_t i = 0; i < x.n_waste; i++) {
			const struct waste_row *w = &x.waste[i];
			if (sum != NULL)
				json_array_append_new(sum, json_pack("{s:s, s:I, s:I, s:f}", "tenant",
					w->tenant, "replaced", (json_int_t)w->w.replaced,
					"early", (json_int_t)w->w.early,
					"waste_cartridges", (double)w->w.waste_pct / 100.0));
			else
				printf("%-12s %8zu %6zu %8.2f\n", w->tenant, w->w.replaced, w->w.early,
				       (double)w->w.waste_pct / 100.0);
		}
		if (json) {
			json_t *doc = json_pack("{s:o, s:o}", "cartridges", x.list, "tenants", sum);
			x.list = NULL;
			json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
			putchar('\n');
			json_decref(doc);
		}
	}
	json_decref(x.list);
	free(x.waste);
	gw_tenant_scope_fini(&scope);
	if (rc != GW_STORE_OK) {
		gw_cli_error("orders cartridges", &err);
		return GW_EXIT_FAILURE;
	}
	return GW_EXIT_OK;
}

int gw_cmd_orders(struct gw_cli *c, int argc, char **argv)
{
	enum { O_TENANT = 1, O_JSON, O_LEAD, O_FLOOR, O_CLEAR };
	static const struct option opts[] = {
		{ "tenant", required_argument, NULL, O_TENANT },
		{ "json", no_argument, NULL, O_JSON },
		{ "lead-time", required_argument, NULL, O_LEAD },
		{ "floor", required_argument, NULL, O_FLOOR },
		{ "clear", no_argument, NULL, O_CLEAR },
		{ NULL, 0, NULL, 0 },
	};
	const char *verb = argc >= 2 && argv[1][0] != '-' ? argv[1] : "list";
	if (strcmp(verb, "ship") == 0 || strcmp(verb, "cancel") == 0)
		return argc == 3 ? orders_change(c, verb, argv[2]) : usage();
	if (strcmp(verb, "list") != 0 && strcmp(verb, "rule") != 0 && strcmp(verb, "cartridges") != 0)
		return usage();
	const char *tenant = NULL, *lead = NULL, *floor = NULL;
	bool json = c->json, clear = false, rule = strcmp(verb, "rule") == 0;
	optind = argc >= 2 && argv[1][0] != '-' ? 2 : 1;
	int ch;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case O_TENANT: tenant = optarg; break;
		case O_JSON: json = true; break;
		case O_LEAD: lead = optarg; break;
		case O_FLOOR: floor = optarg; break;
		case O_CLEAR: clear = true; break;
		default: return usage();
		}
		if (!rule && (ch == O_LEAD || ch == O_FLOOR || ch == O_CLEAR))
			return usage();
	}
	if (optind != argc)
		return usage();
	if (rule)
		return orders_rule(c, tenant, lead, floor, clear);
	return strcmp(verb, "cartridges") == 0 ? orders_cartridges(c, tenant, json)
					       : orders_list(c, tenant, json);
}
