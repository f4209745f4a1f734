/* telemail-mailgw — shared pieces of the configuration readers (config_util.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/error.h>
#include <telemail/node.h>

#include "config/config.h"
#include "config/config_util.h"

int gw_cfg_bad(const struct gw_cfgctx *c, const struct tm_node *at, const char *path,
	       const char *fmt, ...)
{
	char msg[TM_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return tm_error_set(c->err, "config.bad_value", "%s:%u: %s: %s", c->name,
			    at != NULL ? at->line : 1u, path, msg);
}

const struct tm_node *gw_cfg_get(const struct tm_node *map, const char *key)
{
	if (map == NULL || map->type != TM_NODE_MAP)
		return NULL;
	for (size_t i = 0; i < map->u.map.n; i++)
		if (strcmp(map->u.map.pairs[i].key, key) == 0)
			return map->u.map.pairs[i].value;
	return NULL;
}

int gw_cfg_want_map(const struct gw_cfgctx *c, const struct tm_node *n, const char *path,
		    const char *const *allowed)
{
	if (n->type != TM_NODE_MAP)
		return gw_cfg_bad(c, n, path, "must be a mapping, not %s", tm_node_type_name(n->type));
	for (size_t i = 0; i < n->u.map.n && allowed != NULL; i++) {
		bool ok = false;
		for (const char *const *a = allowed; *a != NULL && !ok; a++)
			ok = strcmp(*a, n->u.map.pairs[i].key) == 0;
		if (!ok)
			return tm_error_set(c->err, "config.unknown_key", "%s:%u: %s.%s: unknown key",
					    c->name, n->u.map.pairs[i].value->line, path,
					    n->u.map.pairs[i].key);
	}
	return 0;
}

int gw_cfg_str(const struct gw_cfgctx *c, const struct tm_node *n, const char *path, size_t max,
	       char **out)
{
	if (n->type != TM_NODE_STRING)
		return gw_cfg_bad(c, n, path, "must be a string, not %s", tm_node_type_name(n->type));
	if (n->u.str.len == 0 || n->u.str.len > max)
		return gw_cfg_bad(c, n, path, "must be 1 to %zu bytes", max);
	for (size_t i = 0; i < n->u.str.len; i++)
		if ((unsigned char)n->u.str.s[i] < 0x20 || n->u.str.s[i] == 0x7f)
			return gw_cfg_bad(c, n, path, "holds a control character");
	char *s = strdup(n->u.str.s);
	if (s == NULL)
		return tm_error_set(c->err, "internal.nomem", "out of memory");
	free(*out);
	*out = s;
	return 0;
}

int gw_cfg_path(const struct gw_cfgctx *c, const struct tm_node *n, const char *path, char **out)
{
	char *s = NULL;
	if (gw_cfg_str(c, n, path, GW_CONFIG_MAX_PATH, &s) < 0)
		return -1;
	if (s[0] != '/' && c->base != NULL && c->base[0] != '\0') {
		size_t len = strlen(c->base) + strlen(s) + 2;
		char *p = malloc(len);
		if (p != NULL)
			snprintf(p, len, "%s/%s", c->base, s);
		free(s);
		if ((s = p) == NULL)
			return tm_error_set(c->err, "internal.nomem", "out of memory");
	}
	free(*out);
	*out = s;
	return 0;
}

int gw_cfg_int(const struct gw_cfgctx *c, const struct tm_node *n, const char *path, int64_t min,
	       int64_t max, int64_t *out)
{
	if (n->type != TM_NODE_INT)
		return gw_cfg_bad(c, n, path, "must be an integer, not %s", tm_node_type_name(n->type));
	if (n->u.i < min || n->u.i > max)
		return gw_cfg_bad(c, n, path, "%lld is out of range %lld..%lld", (long long)n->u.i,
				  (long long)min, (long long)max);
	*out = n->u.i;
	return 0;
}

int gw_cfg_uint(const struct gw_cfgctx *c, const struct tm_node *n, const char *path, int64_t min,
		int64_t max, unsigned *out)
{
	int64_t v;
	if (gw_cfg_int(c, n, path, min, max, &v) < 0)
		return -1;
	*out = (unsigned)v;
	return 0;
}

int gw_cfg_dur(const struct gw_cfgctx *c, const struct tm_node *n, const char *path, int64_t min,
	       int64_t max, int64_t *out)
{
	if (n->type != TM_NODE_STRING)
		return gw_cfg_bad(c, n, path, "must be a duration such as 90s, 10m or 7d, not %s",
				  tm_node_type_name(n->type));
	struct tm_error e = {0};
	int64_t v;
	if (gw_config_duration(n->u.str.s, &v, &e) < 0)
		return gw_cfg_bad(c, n, path, "%s", e.msg);
	if (v < min || v > max)
		return gw_cfg_bad(c, n, path, "%s is out of range %llds..%llds", n->u.str.s,
				  (long long)min, (long long)max);
	*out = v;
	return 0;
}
