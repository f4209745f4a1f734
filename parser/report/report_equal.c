/* telemail — two reports are equal (tm_report_equal, telemail/report.h):
 * every field and every list item, strings by content, absent by absent.
 * The round trips of the tests (YAML out and back in) are judged by it. */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <telemail/report.h>

static bool str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool set_eq(const struct tm_counter_set *a, const struct tm_counter_set *b)
{
	return a->impressions == b->impressions &&
	       a->impressions_monochrome == b->impressions_monochrome &&
	       a->impressions_full_color == b->impressions_full_color &&
	       a->impressions_two_sided == b->impressions_two_sided &&
	       a->sheets == b->sheets && a->sheets_two_sided == b->sheets_two_sided &&
	       a->images == b->images;
}

static bool diag_eq(const struct tm_diag *a, const struct tm_diag *b)
{
	if (!str_eq(a->name, b->name) || a->type != b->type)
		return false;
	switch (a->type) {
	case TM_DIAG_STRING:
		return str_eq(a->s, b->s);
	case TM_DIAG_INT:
		return a->i == b->i;
	case TM_DIAG_FLOAT:
		/* bit-exact: -0.0 differs from 0.0 (the writer keeps the sign) */
		return memcmp(&a->f, &b->f, sizeof(a->f)) == 0;
	case TM_DIAG_BOOL:
		return a->b == b->b;
	}
	return false;
}

static bool lists_eq(const struct tm_report *a, const struct tm_report *b)
{
	if (a->has_supplies != b->has_supplies || a->n_supplies != b->n_supplies ||
	    a->has_parts != b->has_parts || a->n_parts != b->n_parts ||
	    a->has_alerts != b->has_alerts || a->n_alerts != b->n_alerts ||
	    a->has_diagnostics != b->has_diagnostics || a->n_diagnostics != b->n_diagnostics)
		return false;
	for (size_t i = 0; i < a->n_supplies; i++) {
		const struct tm_supply *x = &a->supplies[i], *y = &b->supplies[i];
		if (x->index != y->index || !str_eq(x->type, y->type) ||
		    !str_eq(x->colorant, y->colorant) || !str_eq(x->description, y->description) ||
		    !str_eq(x->unit, y->unit) || x->max_capacity != y->max_capacity ||
		    x->level != y->level || !str_eq(x->part_number, y->part_number))
			return false;
	}
	for (size_t i = 0; i < a->n_parts; i++) {
		const struct tm_part *x = &a->parts[i], *y = &b->parts[i];
		if (!str_eq(x->name, y->name) || x->used != y->used ||
		    x->rated_life != y->rated_life || !str_eq(x->unit, y->unit))
			return false;
	}
	for (size_t i = 0; i < a->n_alerts; i++) {
		const struct tm_alert *x = &a->alerts[i], *y = &b->alerts[i];
		if (!str_eq(x->code, y->code) || !str_eq(x->sub_code, y->sub_code) ||
		    !str_eq(x->severity, y->severity) || !str_eq(x->group, y->group) ||
		    x->location != y->location || !str_eq(x->description, y->description) ||
		    !str_eq(x->time, y->time) || x->counter != y->counter)
			return false;
	}
	for (size_t i = 0; i < a->n_diagnostics; i++)
		if (!diag_eq(&a->diagnostics[i], &b->diagnostics[i]))
			return false;
	if (a->has_collector != b->has_collector || a->collector_devices != b->collector_devices ||
	    a->unreachable_count != b->unreachable_count || a->n_unreachable != b->n_unreachable)
		return false;
	for (size_t i = 0; i < a->n_unreachable; i++) {
		const struct tm_unreachable *x = &a->unreachable[i], *y = &b->unreachable[i];
		if (!str_eq(x->address, y->address) || !str_eq(x->serial, y->serial) ||
		    !str_eq(x->reason, y->reason) || !str_eq(x->since, y->since) ||
		    !str_eq(x->detail, y->detail))
			return false;
	}
	return true;
}

bool tm_report_equal(const struct tm_report *a, const struct tm_report *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	if (!str_eq(a->id, b->id) || a->seq != b->seq || a->kind != b->kind ||
	    !str_eq(a->generated_at, b->generated_at) || !str_eq(a->agent, b->agent) ||
	    !str_eq(a->trigger_cause, b->trigger_cause) ||
	    !str_eq(a->trigger_subject, b->trigger_subject) || a->outbox_gap != b->outbox_gap)
		return false;
	if (!str_eq(a->serial, b->serial) || !str_eq(a->manufacturer, b->manufacturer) ||
	    !str_eq(a->model, b->model) || !str_eq(a->name, b->name) ||
	    !str_eq(a->location, b->location) || !str_eq(a->ip, b->ip) || !str_eq(a->mac, b->mac) ||
	    a->n_firmware != b->n_firmware)
		return false;
	for (size_t i = 0; i < a->n_firmware; i++)
		if (!str_eq(a->firmware[i].component, b->firmware[i].component) ||
		    !str_eq(a->firmware[i].version, b->firmware[i].version))
			return false;
	if (a->has_status != b->has_status)
		return false;
	if (a->has_status) {
		if (!str_eq(a->state, b->state) || !str_eq(a->status_since, b->status_since) ||
		    a->n_conditions != b->n_conditions)
			return false;
		for (size_t i = 0; i < a->n_conditions; i++)
			if (!str_eq(a->conditions[i], b->conditions[i]))
				return false;
	}
	if (a->has_counters != b->has_counters)
		return false;
	if (a->has_counters) {
		for (int s = 0; s < TM_SVC_COUNT; s++) {
			if (a->has_service[s] != b->has_service[s])
				return false;
			if (a->has_service[s] && !set_eq(&a->service[s], &b->service[s]))
				return false;
		}
		if (a->n_vendor != b->n_vendor)
			return false;
		for (size_t i = 0; i < a->n_vendor; i++) {
			const struct tm_vendor_counter *x = &a->vendor[i], *y = &b->vendor[i];
			if (!str_eq(x->id, y->id) || !str_eq(x->name, y->name) ||
			    !str_eq(x->unit, y->unit) || x->value != y->value)
				return false;
		}
	}
	return lists_eq(a, b);
}
