/* telemail-mailgw — the meter models file (issue 18): per device model
 * (vendor + model, as the device reports them in device.manufacturer and
 * device.model) its rated speed and the meaning of its vendor meter codes.
 *
 *   models:
 *     - vendor: Canon
 *       model: "imageRUNNER ADVANCE DX C5840i"
 *       ppm: 40                       # rated pages per minute (A4, simplex)
 *       meters:                       # vendor meter code: standard counter
 *         "101": total/impressions
 *         "108": total/impressions_monochrome
 *
 * The file is read with the configuration's reader (telemail/config_map.h):
 * unknown keys, wrong types and out-of-range values are config.bad_value,
 * YAML errors config.syntax, each naming the file, the line and the field
 * ("models.yaml:12: models[3].meters.108: ..."). A standard counter is
 * "service/name" of the report schema (service total, print, copy, scan,
 * fax; name impressions, impressions_monochrome, impressions_full_color,
 * impressions_two_sided, sheets, sheets_two_sided, images). Vendors and
 * models compare without case; each (vendor, model) once.
 *
 * The shipped file is data/models.yaml, installed as
 * <datadir>/telemail/models.yaml (GW_MODELS_FILE) and read when present;
 * billing.models_file names another one (then it must be there). */
#ifndef GW_METER_MODELS_H
#define GW_METER_MODELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tm_error;

#define GW_MODELS_MAX 10000          /* models in one file */
#define GW_MODEL_METERS_MAX 64       /* meter codes of one model */
#define GW_MODEL_PPM_MAX 1000        /* the fastest production presses print ~300 ppm */
#define GW_COUNTER_NAME_MAX 48       /* "service/name" of a standard counter, with its NUL */

struct gw_model_meter {
	char code[33];                       /* the vendor's meter code (report: counters.vendor[].id) */
	char counter[GW_COUNTER_NAME_MAX];   /* the standard counter it is */
};

struct gw_meter_model {
	char *vendor;
	char *model;
	int64_t ppm;                         /* 0: not known */
	struct gw_model_meter meters[GW_MODEL_METERS_MAX];
	size_t n_meters;
};

struct gw_meter_models {
	char *file;
	struct gw_meter_model *models;
	size_t n;
};

/* Read a models file. */
int gw_meter_models_load(const char *path, struct gw_meter_models **out, struct tm_error *err);
/* The same from bytes; name is the file named in errors. */
int gw_meter_models_parse(const uint8_t *buf, size_t len, const char *name,
			  struct gw_meter_models **out, struct tm_error *err);
void gw_meter_models_free(struct gw_meter_models *m);

/* The entry of a device, or NULL (models NULL, vendor or model NULL/unknown). */
const struct gw_meter_model *gw_meter_models_find(const struct gw_meter_models *m,
						  const char *vendor, const char *model);
/* The standard counter a vendor code is on this model, or NULL. */
const char *gw_meter_model_counter(const struct gw_meter_model *e, const char *code);
/* Is "service/name" a standard counter of the report schema? */
bool gw_counter_is_standard(const char *counter);

#endif
