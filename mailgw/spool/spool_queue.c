/* telemail-mailgw — the spool's queue of segments: a new segment and its
 * name, queuing its messages, queue ids, the clock (see spool_private.h).
 * Recovery (spool.c) and the group commit (spool_commit.c) both queue what
 * became durable with these. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "spool/spool.h"
#include "spool/spool_private.h"
#include "spool/spool_segment.h"

void gw_spool_list_push(struct list *l, struct entry *e)
{
	e->next = NULL;
	e->prev = l->tail;
	if (l->tail != NULL)
		l->tail->next = e;
	else
		l->head = e;
	l->tail = e;
	l->n++;
}

/* ---- segments ---- */

struct segment *gw_spool_seg_new(size_t n)
{
	struct segment *g = calloc(1, sizeof(*g) + n * sizeof(struct entry));
	if (g != NULL)
		g->n = g->left = n;
	return g;
}

void gw_spool_seg_link(struct gw_spool *sp, struct segment *g)
{
	g->prev = NULL;
	g->next = sp->segs;
	if (sp->segs != NULL)
		sp->segs->prev = g;
	sp->segs = g;
}

/* "<segment>.<index>": 24 + 1 + at most 4 digits (GW_SPOOL_MAX_BATCH). */
_Static_assert(GW_SEG_NAME_LEN + 5 < GW_SPOOL_QID_MAX, "a queue id fits");
void gw_spool_qid(char qid[GW_SPOOL_QID_MAX], const char *seg, size_t i)
{
	int k = snprintf(qid, GW_SPOOL_QID_MAX, "%s.%zu", seg, i);
	if (k < 0 || k >= GW_SPOOL_QID_MAX)
		abort(); /* a segment name is 24 digits, a round at most 1024 messages */
}

/* Queue the messages of a durable segment (under the lock, or at open). */
void gw_spool_seg_queue(struct gw_spool *sp, struct segment *g, const struct gw_seg_frame *fr)
{
	for (size_t i = 0; i < g->n; i++) {
		struct entry *e = &g->e[i];
		e->seg = g;
		e->f = fr[i];
		if (g->raw)
			memcpy(e->qid, g->name, sizeof(e->qid));
		else
			gw_spool_qid(e->qid, g->name, g->first + i);
		gw_spool_list_push(&sp->ready, e);
		sp->st.messages++;
		sp->st.bytes += e->f.len;
	}
	gw_spool_seg_link(sp, g);
}

/* 24 hex digits: microseconds, process id, a counter. */
void gw_spool_seg_name(struct gw_spool *sp, char name[GW_SPOOL_QID_MAX])
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	uint64_t us = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
	snprintf(name, GW_SPOOL_QID_MAX, "%013" PRIx64 "%05x%06x", us,
		 (unsigned)getpid() & 0xfffffu, sp->counter++ & 0xffffffu);
}

int64_t gw_spool_now(void)
{
	return (int64_t)time(NULL);
}
