/* telemail-mailgw — the tenant filter of every query command: a viewer
 * tenant sees itself and its descendants, never its parent or a sibling.
 * The tree is read once (gw_registry_list_tenants), then each row is
 * checked in memory. */
#ifndef GW_TENANT_SCOPE_H
#define GW_TENANT_SCOPE_H

#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"

struct tm_error;

struct gw_tenant_scope {
	bool all;          /* no --tenant: everything */
	char (*names)[GW_NAME_MAX + 1];
	size_t n;
};

/* viewer NULL: everything. registry.not_found when viewer is no tenant. */
int gw_tenant_scope_load(struct gw_store *st, const char *viewer, struct gw_tenant_scope *out,
			 struct tm_error *err);
bool gw_tenant_scope_has(const struct gw_tenant_scope *s, const char *tenant);
void gw_tenant_scope_fini(struct gw_tenant_scope *s);

#endif
