/* telemail-agent — MIB value names and OCTET STRING text (see snmp_mib.h). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect.h"
#include "snmp_mib.h"

static const char *const printer_status[] = { NULL, "other", "unknown", "idle", "printing", "warmup" };
static const char *const error_bits[] = { "lowPaper", "noPaper", "lowToner", "noToner", "doorOpen",
	"jammed", "offline", "serviceRequested", "inputTrayMissing", "outputTrayMissing",
	"markerSupplyMissing", "outputNearFull", "outputFull", "inputTrayEmpty", "overduePreventMaint" };
static const char *const supply_types[] = { NULL, "other", "unknown", "toner", "wasteToner", "ink",
	"inkCartridge", "inkRibbon", "wasteInk", "opc", "developer", "fuserOil", "solidWax", "ribbonWax",
	"wasteWax", "fuser", "coronaWire", "fuserOilWick", "cleanerUnit", "fuserCleaningPad",
	"transferUnit", "tonerCartridge", "fuserOiler", "water", "wasteWater", "glueWaterAdditive",
	"wastePaper", "bindingSupply", "bandingSupply", "stitchingWire", "shrinkWrap", "paperWrap",
	"staples", "inserts", "covers" };
static const char *const supply_units[] = { NULL, "other", "unknown", "tenThousandthsOfInches",
	"micrometers", NULL, NULL, "impressions", "sheets", NULL, NULL, "hours", "thousandthsOfOunces",
	"tenthsOfGrams", "hundrethsOfFluidOunces", "tenthsOfMilliliters", "feet", "meters", "items",
	"percent" };
static const char *const alert_groups[] = { NULL, "other", "unknown", "hostResourcesMIBStorageTable",
	"hostResourcesMIBDeviceTable", "generalPrinter", "cover", "localization", "input", "output",
	"marker", "markerSupplies", "markerColorant", "mediaPath", "channel", "interpreter",
	"consoleDisplayBuffer", "consoleLights", "alert", NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	NULL, NULL, NULL, NULL, "finDevice", "finSupply", "finSupplyMediaInput", "finAttribute" };

struct code_name {
	int code;
	const char *name;
};

/* PrtAlertCodeTC names that fit the report's code pattern (32 characters);
 * other codes are sent as their number. */
static const struct code_name alert_codes[] = {
	{ 1, "other" }, { 2, "unknown" }, { 3, "coverOpen" }, { 4, "coverClosed" },
	{ 5, "interlockOpen" }, { 6, "interlockClosed" }, { 7, "configurationChange" }, { 8, "jam" },
	{ 9, "subunitMissing" }, { 10, "subunitLifeAlmostOver" }, { 11, "subunitLifeOver" },
	{ 12, "subunitAlmostEmpty" }, { 13, "subunitEmpty" }, { 14, "subunitAlmostFull" },
	{ 15, "subunitFull" }, { 501, "doorOpen" }, { 502, "doorClosed" }, { 503, "poweredUp" },
	{ 504, "poweredDown" }, { 801, "inputMediaTrayMissing" }, { 807, "inputMediaSupplyLow" },
	{ 808, "inputMediaSupplyEmpty" }, { 901, "outputMediaTrayMissing" },
	{ 902, "outputMediaTrayAlmostFull" }, { 903, "outputMediaTrayFull" },
	{ 1101, "markerTonerEmpty" }, { 1102, "markerInkEmpty" }, { 1104, "markerTonerAlmostEmpty" },
	{ 1105, "markerInkAlmostEmpty" }, { 1301, "mediaPathMediaTrayMissing" },
	{ 1302, "mediaPathMediaTrayAlmostFull" }, { 1303, "mediaPathMediaTrayFull" },
};


#define NAME_AT(tab, i) ((i) > 0 && (size_t)(i) < sizeof(tab) / sizeof(tab[0]) ? tab[i] : NULL)

const char *ag_mib_printer_status(long v)
{
	return NAME_AT(printer_status, v);
}

const char *ag_mib_error_bit(size_t bit)
{
	return bit < AG_MIB_ERROR_BITS ? error_bits[bit] : NULL;
}

const char *ag_mib_supply_type(long v)
{
	return NAME_AT(supply_types, v);
}

const char *ag_mib_supply_unit(long v)
{
	return NAME_AT(supply_units, v);
}

const char *ag_mib_alert_group(long v)
{
	return NAME_AT(alert_groups, v);
}

const char *ag_mib_alert_severity(long v)
{
	/* other(1), critical(3), warning(4), warningBinaryChangeEvent(5) */
	return v == 3 ? "critical" : (v == 4 || v == 5) ? "warning" : v == 1 ? "info" : NULL;
}

void ag_mib_alert_code(long v, char out[24])
{
	snprintf(out, 24, "%ld", v);
	for (size_t j = 0; j < sizeof(alert_codes) / sizeof(alert_codes[0]); j++)
		if (alert_codes[j].code == v)
			snprintf(out, 24, "%s", alert_codes[j].name);
	if (out[0] == '-')
		out[0] = 'n';    /* a negative number: keep it within the code pattern */
}

static bool utf8_clean(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = p[i];
		size_t k;
		uint32_t cp;
		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return false;
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			k = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			k = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			k = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (i + k >= n)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + j] & 0x3f);
		}
		if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0))
			return false;
		i += k + 1;
	}
	return true;
}

char *ag_snmp_text(const uint8_t *p, size_t n)
{
	size_t m = n;
	while (m > 0 && p[m - 1] == 0)
		m--;
	char *s;
	if (utf8_clean(p, m)) {
		s = malloc(m + 1);
		if (s != NULL) {
			memcpy(s, p, m);
			s[m] = '\0';
		}
		return s;
	}
	s = malloc(2 * m + 1);
	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < m; i++)
		snprintf(s + 2 * i, 3, "%02x", p[i]);
	s[2 * m] = '\0';
	return s;
}

