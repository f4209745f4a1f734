/* telemail-agent — event detection with hysteresis. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/report.h>

#include "config.h"
#include "events.h"
#include "state.h"

int ag_supply_percent(int64_t level, int64_t max_capacity, const char *unit)
{
	if (level < 0 || level == TM_UNSET)
		return -1;
	if (max_capacity > 0 && max_capacity != TM_UNSET) {
		int64_t p = level >= max_capacity ? 100 : level * 100 / max_capacity;
		return (int)p;
	}
	if (unit != NULL && strcmp(unit, "percent") == 0 && level <= 100)
		return (int)level;
	return -1;
}

static struct ag_state_supply *supply_slot(struct ag_state *st, int64_t index)
{
	for (size_t i = 0; i < st->n_supplies; i++)
		if (st->supplies[i].index == index)
			return &st->supplies[i];
	if (st->n_supplies >= AG_STATE_MAX_LIST)
		return NULL;
	st->supplies[st->n_supplies].index = index;
	st->supplies[st->n_supplies].flags = 0;
	st->supplies[st->n_supplies].part[0] = '\0';
	return &st->supplies[st->n_supplies++];
}

static void alert_key(const struct tm_alert *a, char *out, size_t n)
{
	char loc[24] = "";
	if (a->location != TM_UNSET)
		snprintf(loc, sizeof(loc), "%lld", (long long)a->location);
	snprintf(out, n, "%s/%s/%s", a->code, a->sub_code ? a->sub_code : "", loc);
}

static size_t emit(struct ag_event *ev, size_t k, size_t max, const char *cause, const char *subj)
{
	if (k >= max)
		return k;
	ev[k].cause = cause;
	snprintf(ev[k].subject, sizeof(ev[k].subject), "%s", subj);
	return k + 1;
}

/* Replace list `l` with the current set `cur` (kept only when everything fitted). */
static void list_replace(char **l, size_t *n, char **cur, size_t ncur)
{
	for (size_t i = 0; i < *n; i++)
		free(l[i]);
	memcpy(l, cur, ncur * sizeof(*l));
	*n = ncur;
}

size_t ag_events_detect(const struct ag_config *c, struct ag_state *st,
			const struct tm_report *snap, struct ag_event *ev, size_t max)
{
	size_t k = 0;
	char subj[128];

	for (size_t i = 0; i < snap->n_supplies; i++) {
		const struct tm_supply *s = &snap->supplies[i];
		struct ag_state_supply *slot = supply_slot(st, s->index);
		if (slot == NULL)
			break;
		int pct = ag_supply_percent(s->level, s->max_capacity, s->unit);
		int thr = ag_config_supply_low(c, s->type, s->colorant);
		snprintf(subj, sizeof(subj), "supplies/%lld", (long long)s->index);
		/* a new part number is a new cartridge, whatever the level says */
		const char *part = s->part_number != NULL ? s->part_number : "";
		bool new_part = part[0] != '\0' && slot->part[0] != '\0' && strcmp(part, slot->part) != 0;
		if (new_part && st->primed && k >= max)
			continue;   /* no room for its event: the next run tells it */
		if (part[0] != '\0')
			snprintf(slot->part, sizeof(slot->part), "%s", part);
		if (new_part && st->primed) {
			k = emit(ev, k, max, "supply_replaced", subj);
			slot->flags = 0;
			continue;
		}
		if (s->level == 0) {
			if (!(slot->flags & AG_SUPPLY_EMPTY) && k < max) {
				k = emit(ev, k, max, "supply_empty", subj);
				slot->flags |= AG_SUPPLY_EMPTY | AG_SUPPLY_LOW;
			}
		} else if (pct >= 0 && pct <= thr) {
			if (!(slot->flags & AG_SUPPLY_LOW) && k < max) {
				k = emit(ev, k, max, "supply_low", subj);
				slot->flags |= AG_SUPPLY_LOW;
			}
		} else if (pct >= 0 && pct >= thr + c->hysteresis) {
			if ((slot->flags & AG_SUPPLY_LOW) && k < max) {
				k = emit(ev, k, max, "supply_replaced", subj);
				slot->flags = 0;
			}
		}
	}

	/* Alerts: each new one fires once; cleared ones are forgotten (and fire again when back). */
	char *cur[AG_STATE_MAX_LIST];
	size_t ncur = 0;
	bool complete = true;
	for (size_t i = 0; i < snap->n_alerts && ncur < AG_STATE_MAX_LIST; i++) {
		char key[128];
		alert_key(&snap->alerts[i], key, sizeof(key));
		if (!ag_state_list_has(st->alerts, st->n_alerts, key)) {
			if (k >= max) {
				complete = false;
				continue;
			}
			k = emit(ev, k, max, "alert", snap->alerts[i].code);
		}
		if (!ag_state_list_has(cur, ncur, key) && (cur[ncur] = strdup(key)) != NULL)
			ncur++;
	}
	if (complete) {
		list_replace(st->alerts, &st->n_alerts, cur, ncur);
	} else {
		for (size_t i = 0; i < ncur; i++)
			free(cur[i]);
	}

	/* Conditions (hrPrinterDetectedErrorState): a new one is a state change. */
	ncur = 0;
	complete = true;
	for (size_t i = 0; i < snap->n_conditions && ncur < AG_STATE_MAX_LIST; i++) {
		const char *cn = snap->conditions[i];
		if (!ag_state_list_has(st->conditions, st->n_conditions, cn)) {
			if (k >= max) {
				complete = false;
				continue;
			}
			k = emit(ev, k, max, "state_change", cn);
		}
		if ((cur[ncur] = strdup(cn)) != NULL)
			ncur++;
	}
	if (complete) {
		list_replace(st->conditions, &st->n_conditions, cur, ncur);
	} else {
		for (size_t i = 0; i < ncur; i++)
			free(cur[i]);
	}
	if (snap->has_status && snap->state)
		snprintf(st->pstate, sizeof(st->pstate), "%s", snap->state);

	/* Parts past the warning share of their rated life. */
	for (size_t i = 0; i < snap->n_parts; i++) {
		const struct tm_part *p = &snap->parts[i];
		if (p->rated_life == TM_UNSET || p->rated_life <= 0)
			continue;
		bool over = p->used / (double)p->rated_life * 100.0 >= c->part_life_warning;
		bool known = ag_state_list_has(st->parts, st->n_parts, p->name);
		if (over && !known && k < max) {
			snprintf(subj, sizeof(subj), "parts/%s", p->name);
			k = emit(ev, k, max, "part_life", subj);
			ag_state_list_add(st->parts, &st->n_parts, p->name);
		} else if (!over && known) {
			for (size_t j = 0; j < st->n_parts; j++)
				if (strcmp(st->parts[j], p->name) == 0) {
					free(st->parts[j]);
					st->parts[j] = st->parts[--st->n_parts];
					break;
				}
		}
	}

	/* Firmware: a changed version is an event (not on the first snapshot). */
	ncur = 0;
	bool changed = false;
	for (size_t i = 0; i < snap->n_firmware && ncur < AG_STATE_MAX_LIST; i++) {
		char fw[160];
		snprintf(fw, sizeof(fw), "%s=%s", snap->firmware[i].component, snap->firmware[i].version);
		if (!ag_state_list_has(st->firmware, st->n_firmware, fw))
			changed = true;
		if ((cur[ncur] = strdup(fw)) != NULL)
			ncur++;
	}
	if (changed && st->primed && k < max) {
		k = emit(ev, k, max, "firmware_change", snap->n_firmware ? snap->firmware[0].component : "");
		list_replace(st->firmware, &st->n_firmware, cur, ncur);
	} else if (changed && !st->primed) {
		list_replace(st->firmware, &st->n_firmware, cur, ncur);
	} else {
		for (size_t i = 0; i < ncur; i++)
			free(cur[i]);
	}
	st->primed = true;
	return k;
}
