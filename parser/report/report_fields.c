/* telemail — the field tables of the report's structs (see report_fields.h). */
#include <telemail/report.h>

#include "report/report_fields.h"

#define STR(type, member, req) { #member, false, req, offsetof(type, member) }
#define INT(type, member, req) { #member, true, req, offsetof(type, member) }
#define TABLE(name, type, a) \
	const struct tm_report_fields name = { a, sizeof(a) / sizeof((a)[0]), sizeof(type) }

static const struct tm_report_field counter_set[] = {
	INT(struct tm_counter_set, impressions, false),
	INT(struct tm_counter_set, impressions_monochrome, false),
	INT(struct tm_counter_set, impressions_full_color, false),
	INT(struct tm_counter_set, impressions_two_sided, false),
	INT(struct tm_counter_set, sheets, false),
	INT(struct tm_counter_set, sheets_two_sided, false),
	INT(struct tm_counter_set, images, false),
};
TABLE(tm_counter_set_fields, struct tm_counter_set, counter_set);

static const struct tm_report_field vendor[] = {
	STR(struct tm_vendor_counter, id, true),
	STR(struct tm_vendor_counter, name, false),
	STR(struct tm_vendor_counter, unit, false),
	INT(struct tm_vendor_counter, value, true),
};
TABLE(tm_vendor_fields, struct tm_vendor_counter, vendor);

static const struct tm_report_field supply[] = {
	INT(struct tm_supply, index, true),
	STR(struct tm_supply, type, true),
	STR(struct tm_supply, colorant, false),
	STR(struct tm_supply, description, false),
	STR(struct tm_supply, unit, false),
	INT(struct tm_supply, max_capacity, false),
	INT(struct tm_supply, level, true),
	STR(struct tm_supply, part_number, false),
};
TABLE(tm_supply_fields, struct tm_supply, supply);

static const struct tm_report_field part[] = {
	STR(struct tm_part, name, true),
	INT(struct tm_part, used, true),
	INT(struct tm_part, rated_life, false),
	STR(struct tm_part, unit, false),
};
TABLE(tm_part_fields, struct tm_part, part);

static const struct tm_report_field alert[] = {
	STR(struct tm_alert, code, true),
	STR(struct tm_alert, sub_code, false),
	STR(struct tm_alert, severity, true),
	STR(struct tm_alert, group, false),
	INT(struct tm_alert, location, false),
	STR(struct tm_alert, description, false),
	STR(struct tm_alert, time, false),
	INT(struct tm_alert, counter, false),
};
TABLE(tm_alert_fields, struct tm_alert, alert);

static const struct tm_report_field unreachable[] = {
	STR(struct tm_unreachable, address, true),
	STR(struct tm_unreachable, serial, false),
	STR(struct tm_unreachable, reason, true),
	STR(struct tm_unreachable, since, true),
	STR(struct tm_unreachable, detail, false),
};
TABLE(tm_unreachable_fields, struct tm_unreachable, unreachable);
