/* telemail-mailgw — what the configuration readers share (config_listen.c,
 * config_service.c): key lookup, the unknown-key check, typed values with
 * their limits, and the "file:line: key.path: message" errors of config.h. */
#ifndef GW_CONFIG_UTIL_H
#define GW_CONFIG_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tm_error;
struct tm_node;

struct gw_cfgctx {
	const char *name;      /* the file, for messages */
	const char *base;      /* directory for relative paths (NULL or "": as given) */
	struct tm_error *err;
};

/* config.bad_value "name:line: path: message"; returns -1. */
int gw_cfg_bad(const struct gw_cfgctx *c, const struct tm_node *at, const char *path,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A mapping's value for key (NULL when absent or when map is not a mapping). */
const struct tm_node *gw_cfg_get(const struct tm_node *map, const char *key);

/* n must be a mapping whose keys are all in `allowed` (NULL: any key);
 * config.unknown_key names "path.key" and its line. */
int gw_cfg_want_map(const struct gw_cfgctx *c, const struct tm_node *n, const char *path,
		    const char *const *allowed);

/* A string of 1..max bytes without control characters (replaces *out). */
int gw_cfg_str(const struct gw_cfgctx *c, const struct tm_node *n, const char *path, size_t max,
	       char **out);
/* A file or directory name, made absolute against c->base (replaces *out). */
int gw_cfg_path(const struct gw_cfgctx *c, const struct tm_node *n, const char *path, char **out);
/* Integers in min..max. */
int gw_cfg_int(const struct gw_cfgctx *c, const struct tm_node *n, const char *path, int64_t min,
	       int64_t max, int64_t *out);
int gw_cfg_uint(const struct gw_cfgctx *c, const struct tm_node *n, const char *path, int64_t min,
		int64_t max, unsigned *out);
/* A duration ("90s", "10m", "2h", "7d") in min..max seconds. */
int gw_cfg_dur(const struct gw_cfgctx *c, const struct tm_node *n, const char *path, int64_t min,
	       int64_t max, int64_t *out);

#endif
