/* telemail-mailgw — the store front's own state, shared by the files of
 * the front (store.c and the feature fronts store_supply.c, store_forward.c,
 * store_web.c); never by a back end or a caller. */
#ifndef GW_STORE_PRIVATE_H
#define GW_STORE_PRIVATE_H

#include <stdbool.h>
#include <string.h>

#include "store/store.h"

struct gw_store {
	const struct gw_store_ops *ops;
	void *be;
	bool in_batch;
	bool forward;   /* options.forward: the outbox is on */
};

/* store.unsupported for an op back end lacks (PostgreSQL: forwarding
 * and web reads in this version); GW_STORE_ERROR. */
int gw_store_unsupported(const struct gw_store *st, const char *op, struct tm_error *err);

/* A text of 1..max octets. */
static inline bool short_text(const char *s, size_t max)
{
	return s != NULL && s[0] != '\0' && strnlen(s, max + 1) <= max;
}

#endif
