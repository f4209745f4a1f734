/* telemail-mailgw — the meter models file (see meter_models.h). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <telemail/buf.h>
#include <telemail/config_map.h>
#include <telemail/error.h>
#include <telemail/node.h>

#include "config/meter_models.h"
#include "config/config.h"

bool gw_counter_is_standard(const char *counter)
{
	static const char *const services[] = { "total", "print", "copy", "scan", "fax" };
	static const char *const names[] = {
		"impressions", "impressions_monochrome", "impressions_full_color",
		"impressions_two_sided", "sheets", "sheets_two_sided", "images",
	};
	const char *slash = counter != NULL ? strchr(counter, '/') : NULL;
	if (slash == NULL)
		return false;
	bool svc = false;
	for (size_t i = 0; i < sizeof(services) / sizeof(services[0]) && !svc; i++)
		svc = strlen(services[i]) == (size_t)(slash - counter) &&
		      strncmp(services[i], counter, (size_t)(slash - counter)) == 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && svc; i++)
		if (strcmp(names[i], slash + 1) == 0)
			return true;
	return false;
}

static bool good_code(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 32)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '.' || *s == '_' || *s == '-'))
			return false;
	return true;
}

/* models[i].meters: a mapping of vendor code to standard counter. */
static int read_meters(const struct tm_conf_ctx *c, const struct tm_node *n, const char *at,
		       void *obj)
{
	struct gw_meter_model *e = obj;
	if (n->type != TM_NODE_MAP)
		return tm_conf_fail(c, n, "config.bad_value", at, "must be a mapping, not %s",
				    tm_node_type_name(n->type));
	if (n->u.map.n > GW_MODEL_METERS_MAX)
		return tm_conf_fail(c, n, "config.bad_value", at, "more than %d meter codes",
				    GW_MODEL_METERS_MAX);
	for (size_t i = 0; i < n->u.map.n; i++) {
		const char *code = n->u.map.pairs[i].key;
		const struct tm_node *v = n->u.map.pairs[i].value;
		char path[200];
		snprintf(path, sizeof(path), "%.120s.%.40s", at, code);
		if (!good_code(code))
			return tm_conf_fail(c, v, "config.bad_value", path,
					    "a meter code is 1 to 32 of A-Z a-z 0-9 . _ -");
		if (v->type != TM_NODE_STRING)
			return tm_conf_fail(c, v, "config.bad_value", path, "must be a string, not %s",
					    tm_node_type_name(v->type));
		if (!gw_counter_is_standard(v->u.str.s))
			return tm_conf_fail(c, v, "config.bad_value", path,
					    "'%.60s' is no standard counter (want service/name, e.g. "
					    "total/impressions_monochrome)", v->u.str.s);
		struct gw_model_meter *m = &e->meters[e->n_meters++];
		snprintf(m->code, sizeof(m->code), "%s", code);
		snprintf(m->counter, sizeof(m->counter), "%s", v->u.str.s);
	}
	return 0;
}

#define MOD(member) TM_CONF_FIELD(struct gw_meter_model, member)

static const struct tm_conf_entry model_keys[] = {
	TM_CONF_KEY("vendor", TM_CONF_STRING, NULL, TM_CONF_REQUIRED, 0, 127, MOD(vendor),
	  "the device's manufacturer, as reported (device.manufacturer)"),
	TM_CONF_KEY("model", TM_CONF_STRING, NULL, TM_CONF_REQUIRED, 0, 127, MOD(model),
	  "the device's model, as reported (device.model)"),
	TM_CONF_KEY("ppm", TM_CONF_INT, "0", 0, 0, GW_MODEL_PPM_MAX, MOD(ppm),
	  "rated speed in pages a minute (0: not known)"),
	TM_CONF_KEY("meters", TM_CONF_CUSTOM, NULL, 0, 0, 0, TM_CONF_NOFIELD,
	  "vendor meter code: standard counter", .read = read_meters, .type_name = "map(counter)"),
};
static const struct tm_conf_section model_section = TM_CONF_TABLE(model_keys, NULL);

/* Each (vendor, model) once. */
static int check_file(const struct tm_conf_ctx *c, const struct tm_node *map, const char *path,
		      void *obj)
{
	const struct gw_meter_models *f = obj;
	const struct tm_node *list = tm_node_get(map, "models");
	for (size_t i = 0; i < f->n; i++)
		for (size_t j = 0; j < i; j++)
			if (strcasecmp(f->models[i].vendor, f->models[j].vendor) == 0 &&
			    strcasecmp(f->models[i].model, f->models[j].model) == 0) {
				char at[40];
				snprintf(at, sizeof(at), "models[%zu]", i);
				return tm_conf_fail(c, list->u.seq.items[i], "config.bad_value", at,
						    "%.60s %.60s is listed twice (first as models[%zu])",
						    f->models[i].vendor, f->models[i].model, j);
			}
	(void)path;
	return 0;
}

static const struct tm_conf_entry file_keys[] = {
	TM_CONF_KEY("models", TM_CONF_LIST, NULL, TM_CONF_REQUIRED, 0, GW_MODELS_MAX,
	  TM_CONF_FIELD(struct gw_meter_models, models), "the models", .of = TM_CONF_SECTION,
	  .count_offset = offsetof(struct gw_meter_models, n),
	  .elem_size = sizeof(struct gw_meter_model), .section = &model_section),
};
static const struct tm_conf_section file_section = TM_CONF_TABLE(file_keys, check_file);

int gw_meter_models_parse(const uint8_t *buf, size_t len, const char *name,
			  struct gw_meter_models **out, struct tm_error *err)
{
	struct tm_conf_ctx c = { .file = name, .err = err };
	struct tm_node *root = NULL;
	struct tm_error yerr = {0};
	*out = NULL;
	if (tm_yaml_read(buf, len, &TM_YAML_CONFIG_LIMITS, &root, &yerr) < 0)
		return gw_config_syntax_error(name, &yerr, err);
	struct gw_meter_models *m = calloc(1, sizeof(*m));
	int rc = -1;
	if (m == NULL || (m->file = strdup(name)) == NULL)
		tm_error_set(err, "internal.nomem", "out of memory");
	else if (root->type != TM_NODE_MAP)
		tm_conf_fail(&c, root, "config.bad_value", "", "want a mapping with models:");
	else
		rc = tm_conf_read(&c, &file_section, root, "", m);
	tm_node_free(root);
	if (rc < 0) {
		gw_meter_models_free(m);
		return -1;
	}
	*out = m;
	return 0;
}

int gw_meter_models_load(const char *path, struct gw_meter_models **out, struct tm_error *err)
{
	struct tm_buf b;
	tm_buf_init(&b);
	*out = NULL;
	int rc = tm_buf_read_file(&b, path, TM_YAML_CONFIG_LIMITS.max_bytes, err);
	if (rc == 0)
		rc = gw_meter_models_parse(b.data, b.len, path, out, err);
	tm_buf_fini(&b);
	return rc;
}

void gw_meter_models_free(struct gw_meter_models *m)
{
	if (m == NULL)
		return;
	tm_conf_release(&file_section, m);
	free(m->file);
	free(m);
}

const struct gw_meter_model *gw_meter_models_find(const struct gw_meter_models *m,
						  const char *vendor, const char *model)
{
	if (m == NULL || vendor == NULL || model == NULL)
		return NULL;
	for (size_t i = 0; i < m->n; i++)
		if (strcasecmp(m->models[i].vendor, vendor) == 0 &&
		    strcasecmp(m->models[i].model, model) == 0)
			return &m->models[i];
	return NULL;
}

const char *gw_meter_model_counter(const struct gw_meter_model *e, const char *code)
{
	for (size_t i = 0; e != NULL && i < e->n_meters; i++)
		if (strcmp(e->meters[i].code, code) == 0)
			return e->meters[i].counter;
	return NULL;
}
