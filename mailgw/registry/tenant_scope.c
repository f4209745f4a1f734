/* telemail-mailgw — the tenant filter of the query commands. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/array.h>
#include <telemail/error.h>

#include "registry/registry.h"
#include "registry/tenant_scope.h"

struct tree {
	struct gw_tenant_row *rows;
	size_t n, cap;
};

static int collect(void *ctx, const struct gw_tenant_row *t)
{
	struct tree *tr = ctx;
	struct gw_tenant_row *p = tm_array_grow(tr->rows, &tr->cap, tr->n, sizeof(*p),
						32, SIZE_MAX);
	if (p == NULL)
		return 1;   /* stops the walk: out of memory */
	tr->rows = p;
	tr->rows[tr->n++] = *t;
	return 0;
}

int gw_tenant_scope_load(struct gw_store *st, const char *viewer, struct gw_tenant_scope *out,
			 struct tm_error *err)
{
	memset(out, 0, sizeof(*out));
	if (viewer == NULL) {
		out->all = true;
		return 0;
	}
	struct tree tr = {0};
	int rc = gw_registry_list_tenants(st, collect, &tr, err);
	if (rc != 0) {
		if (rc > 0)
			rc = tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	out->names = calloc(tr.n + 1, sizeof(*out->names));
	if (out->names == NULL) {
		rc = tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	bool found = false;
	for (size_t i = 0; i < tr.n && !found; i++)
		found = strcmp(tr.rows[i].name, viewer) == 0;
	if (!found) {
		rc = gw_registry_tenant_name_ok(viewer) ? gw_registry_tenant_unknown(viewer, err)
							: gw_registry_tenant_bad_name(viewer, err);
		goto out;
	}
	memcpy(out->names[out->n++], viewer, strlen(viewer) + 1);
	/* breadth-first over the children of what is already in scope; the tree
	 * is acyclic (registry.c refuses cycles), each name is added once */
	for (size_t k = 0; k < out->n; k++)
		for (size_t i = 0; i < tr.n; i++)
			if (strcmp(tr.rows[i].parent, out->names[k]) == 0 &&
			    !gw_tenant_scope_has(out, tr.rows[i].name) && out->n <= tr.n)
				memcpy(out->names[out->n++], tr.rows[i].name, sizeof(out->names[0]));
	rc = 0;
out:
	free(tr.rows);
	if (rc != 0)
		gw_tenant_scope_fini(out);
	return rc;
}

bool gw_tenant_scope_has(const struct gw_tenant_scope *s, const char *tenant)
{
	if (s->all)
		return true;
	for (size_t i = 0; i < s->n; i++)
		if (tenant != NULL && strcmp(s->names[i], tenant) == 0)
			return true;
	return false;
}

void gw_tenant_scope_fini(struct gw_tenant_scope *s)
{
	free(s->names);
	s->names = NULL;
	s->n = 0;
}
