/* telemail-mailgw — the meter rules' shared parts (see meter_rules.h). */
#include <stdio.h>
#include <string.h>

#include "service/meter_rules.h"
#include "service/billing.h"
#include "config/meter_models.h"

void gw_meter_rate_of(const struct gw_meter_model *m, unsigned margin_percent,
		      struct gw_meter_rate *out)
{
	if (margin_percent < 100)
		margin_percent = 100;   /* never below the rated speed */
	if (m != NULL && m->ppm > 0) {   /* rounded up */
		out->ppm = (unsigned)((m->ppm * margin_percent + 99) / 100);
		out->model = true;
	} else {
		out->ppm = GW_BILLING_PPM;
		out->model = false;
	}
}

bool gw_meter_counts_printing(const char *counter)
{
	if (!gw_counter_is_standard(counter) || strncmp(counter, "scan/", 5) == 0)
		return false;
	const char *name = strchr(counter, '/') + 1;
	return strncmp(name, "impressions", 11) == 0 || strncmp(name, "sheets", 6) == 0;
}

bool gw_meter_stuck_watched(const char *counter)
{
	return strcmp(counter, "total/impressions") == 0 || strcmp(counter, "total/sheets") == 0;
}

const char *gw_meter_meaning(const struct gw_meter_model *m, const char *service,
			     const char *name, char *buf, size_t n)
{
	if (strcmp(service, "vendor") == 0)
		return gw_meter_model_counter(m, name);
	snprintf(buf, n, "%s/%s", service, name);
	return buf;
}
