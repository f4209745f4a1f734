/* telemail-mailgw — one evaluation's view of its device (see alerts_device.h). */
#include <stdlib.h>
#include <string.h>

#include <telemail/array.h>
#include <telemail/error.h>

#include "service/alerts.h"
#include "service/alerts_device.h"


#define MARKS_FIRST 32    /* slots allocated at first, doubled up to GW_ALERTS_MARKS_MAX */
#define ACTIVE_FIRST 16   /* the same, up to GW_ALERTS_ACTIVE_MAX */

struct gw_alerts_mark_slot {
	struct gw_mark_entry e;   /* the mark as the evaluation leaves it */
	bool write;               /* new, or not the stored value: write the whole row */
};

void gw_alerts_device_init(struct gw_alerts_device *d, struct gw_store *st, const char *serial,
			   int64_t seq)
{
	memset(d, 0, sizeof(*d));
	d->st = st;
	d->serial = serial;
	d->seq = seq;
}

void gw_alerts_device_fini(struct gw_alerts_device *d)
{
	free(d->marks);
	free(d->active);
	memset(d, 0, sizeof(*d));
}

/* Could this text have been cut to fit its buffer? */
static bool full(const char *s, size_t cap)
{
	return strnlen(s, cap) >= cap - 1;
}

static int hold_mark(void *ctx, const struct gw_mark_entry *m)
{
	struct gw_alerts_device *d = ctx;
	if (m->inexact && full(m->key, sizeof(m->key)))
		return 1;   /* a key longer than a slot holds: lookups would not be exact */
	struct gw_alerts_mark_slot *p = tm_array_grow(d->marks, &d->cap_marks, d->n_marks,
						      sizeof(*p), MARKS_FIRST, GW_ALERTS_MARKS_MAX);
	if (p == NULL)
		return 1;   /* more than the cap (or no memory): stop, the store answers */
	d->marks = p;
	p[d->n_marks].e = *m;
	p[d->n_marks].write = false;
	d->n_marks++;
	return 0;
}

static int hold_alert(void *ctx, const struct gw_alert_row *a)
{
	struct gw_alerts_device *d = ctx;
	if (full(a->kind, sizeof(a->kind)) || full(a->subject, sizeof(a->subject)))
		return 1;   /* maybe cut: lookups by kind and subject would not be exact */
	struct gw_alert_row *p = tm_array_grow(d->active, &d->cap_active, d->n_active,
					       sizeof(*p), ACTIVE_FIRST, GW_ALERTS_ACTIVE_MAX);
	if (p == NULL)
		return 1;
	d->active = p;
	p[d->n_active++] = *a;
	return 0;
}

void gw_alerts_device_load_ask(struct gw_alerts_device *d, struct gw_report_reads *rr)
{
	d->n_marks = d->n_active = 0;
	rr->device = true;
	rr->mark_cb = hold_mark;
	rr->alert_cb = hold_alert;
	rr->ctx = d;
}

void gw_alerts_device_loaded(struct gw_alerts_device *d, const int stop[2])
{
	d->marks_held = stop[0] == 0;   /* non-zero: a callback stopped the walk */
	if (!d->marks_held)
		d->n_marks = 0;
	d->active_held = stop[1] == 0;
	if (!d->active_held)
		d->n_active = 0;
}

int gw_alerts_device_load(struct gw_alerts_device *d, struct tm_error *err)
{
	struct gw_report_reads rr = {0};
	gw_alerts_device_load_ask(d, &rr);
	int rc = gw_store_device_load(d->st, d->serial, rr.mark_cb, rr.alert_cb, rr.ctx, rr.stop,
				      err);
	if (rc < 0)
		return rc;
	gw_alerts_device_loaded(d, rr.stop);
	return GW_STORE_OK;
}

/* ---- marks ---- */

static struct gw_alerts_mark_slot *mark_slot(struct gw_alerts_device *d, const char *key)
{
	for (size_t i = 0; i < d->n_marks; i++)
		if (strcmp(d->marks[i].e.key, key) == 0)
			return &d->marks[i];
	return NULL;
}

int gw_alerts_device_mark_get(struct gw_alerts_device *d, const char *key,
			      struct gw_mark_row *buf, const struct gw_mark_row **out,
			      struct tm_error *err)
{
	*out = NULL;
	if (!d->marks_held) {
		bool found = false;
		int rc = gw_store_mark_get(d->st, d->serial, key, buf, &found, err);
		if (rc == GW_STORE_OK && found)
			*out = buf;
		return rc;
	}
	struct gw_alerts_mark_slot *s = mark_slot(d, key);
	if (s != NULL)
		*out = &s->e.m;
	return GW_STORE_OK;
}

int gw_alerts_device_mark_walk(struct gw_alerts_device *d, gw_store_mark_cb cb, void *ctx,
			       struct tm_error *err)
{
	if (!d->marks_held)
		return gw_store_mark_list(d->st, d->serial, cb, ctx, err);
	for (size_t i = 0; i < d->n_marks; i++) {
		int rc = cb(ctx, &d->marks[i].e);
		if (rc != 0)
			return rc;
	}
	return GW_STORE_OK;
}

static bool same_value(const struct gw_mark_row *a, const struct gw_mark_row *b)
{
	return a->has_ival == b->has_ival && (!a->has_ival || a->ival == b->ival) &&
	       strcmp(a->tval, b->tval) == 0;
}

int gw_alerts_device_mark_set(struct gw_alerts_device *d, const char *key,
			      const struct gw_mark_row *m, struct tm_error *err)
{
	if (!d->marks_held)
		return gw_store_mark_set(d->st, d->serial, key, m, err);
	struct gw_alerts_mark_slot *s = mark_slot(d, key);
	if (s == NULL) {
		struct gw_alerts_mark_slot *p = NULL;
		if (strlen(key) < sizeof(s->e.key))
			p = tm_array_grow(d->marks, &d->cap_marks, d->n_marks, sizeof(*p),
					  MARKS_FIRST, GW_ALERTS_MARKS_MAX);
		if (p == NULL) {
			/* past the cap: write what is pending; from here on the store answers */
			int rc = gw_alerts_device_flush(d, err);
			d->marks_held = false;
			d->n_marks = 0;
			return rc == GW_STORE_OK ? gw_store_mark_set(d->st, d->serial, key, m, err)
						 : rc;
		}
		d->marks = p;
		s = &p[d->n_marks++];
		memset(&s->e, 0, sizeof(s->e));
		memcpy(s->e.key, key, strlen(key) + 1);
		s->e.m = *m;
		s->write = true;
		return GW_STORE_OK;
	}
	/* the same value stays as it is, with the seq of the report that set it */
	if (s->write || s->e.inexact || m->seq != d->seq || !same_value(&s->e.m, m)) {
		s->e.m = *m;
		s->write = true;
	}
	return GW_STORE_OK;
}

int gw_alerts_device_flush(struct gw_alerts_device *d, struct tm_error *err)
{
	const struct gw_mark_entry *put[GW_ALERTS_MARKS_MAX];
	size_t np = 0;
	if (!d->marks_held)
		return GW_STORE_OK;
	for (size_t i = 0; i < d->n_marks; i++)
		if (d->marks[i].write)
			put[np++] = &d->marks[i].e;
	int rc = np > 0 ? gw_store_mark_set_many(d->st, d->serial, put, np, err) : GW_STORE_OK;
	if (rc != GW_STORE_OK)
		return rc;
	for (size_t i = 0; i < d->n_marks; i++) {
		if (d->marks[i].write)
			d->marks[i].e.inexact = false;   /* the stored row is this copy now */
		d->marks[i].write = false;
	}
	return GW_STORE_OK;
}

/* ---- active alerts ---- */

int gw_alerts_device_find(struct gw_alerts_device *d, const char *kind, const char *subject,
			  struct gw_alert_row *out, bool *found, struct tm_error *err)
{
	if (!d->active_held)
		return gw_store_alert_find_active(d->st, d->serial, kind, subject, out, found,
						  err);
	*found = false;
	for (size_t i = 0; i < d->n_active; i++)
		if (strcmp(d->active[i].kind, kind) == 0 && strcmp(d->active[i].subject, subject) == 0) {
			*out = d->active[i];
			*found = true;
			break;
		}
	return GW_STORE_OK;
}

int gw_alerts_device_insert(struct gw_alerts_device *d, struct gw_alert_row *a,
			    struct tm_error *err)
{
	int rc = gw_store_alert_insert(d->st, a, err);
	if (rc != GW_STORE_OK || !d->active_held || a->state == GW_ALERT_RESOLVED ||
	    strcmp(a->serial, d->serial) != 0)
		return rc;
	struct gw_alert_row *p = NULL;
	if (!full(a->kind, sizeof(a->kind)) && !full(a->subject, sizeof(a->subject)))
		p = tm_array_grow(d->active, &d->cap_active, d->n_active, sizeof(*p),
				  ACTIVE_FIRST, GW_ALERTS_ACTIVE_MAX);
	if (p == NULL) {
		d->active_held = false;   /* the store has every row: it answers from here on */
		d->n_active = 0;
		return GW_STORE_OK;
	}
	d->active = p;
	p[d->n_active++] = *a;
	return GW_STORE_OK;
}

/* After a write of a that answered rc: the held copy follows. */
static int written(struct gw_alerts_device *d, const struct gw_alert_row *a, int rc)
{
	if (rc != GW_STORE_OK || !d->active_held)
		return rc;
	for (size_t i = 0; i < d->n_active; i++)
		if (d->active[i].id == a->id) {
			if (a->state == GW_ALERT_RESOLVED)
				d->active[i] = d->active[--d->n_active];
			else
				d->active[i] = *a;
			return rc;
		}
	if (a->state != GW_ALERT_RESOLVED) {
		d->active_held = false;   /* an alert not held became active: ask the store */
		d->n_active = 0;
	}
	return rc;
}

int gw_alerts_device_update(struct gw_alerts_device *d, const struct gw_alert_row *a,
			    struct tm_error *err)
{
	return written(d, a, gw_store_alert_update(d->st, a, err));
}

int gw_alerts_device_repeat(struct gw_alerts_device *d, const struct gw_alert_row *a,
			    struct tm_error *err)
{
	return written(d, a, gw_store_alert_repeat(d->st, a, err));
}
