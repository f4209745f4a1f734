/* telemail-mailgw — /metrics (see metrics.h). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/buf.h>
#include <telemail/error.h>

#include "service/alerts.h"
#include "service/notify.h"
#include "store/store.h"
#include "web/metrics.h"
#include "web/page.h"

const double gw_web_latency_bounds[GW_WEB_LATENCY_BUCKETS] = {
	0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 3600,
};

size_t gw_web_latency_bucket(double seconds)
{
	size_t i = 0;
	while (i < GW_WEB_LATENCY_BUCKETS && seconds > gw_web_latency_bounds[i])
		i++;
	return i;
}

static void family(struct tm_buf *b, const char *name, const char *type, const char *help)
{
	tm_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: \ " and newline escaped (the text format's rule). */
static void label_value(struct tm_buf *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			tm_buf_printf(b, "\\%c", *v);
		else if (*v == '\n')
			tm_buf_append_str(b, "\\n");
		else
			tm_buf_append(b, v, 1);
	}
}

static void runtime(struct tm_buf *b, const struct gw_web_runtime *rt, int64_t now)
{
	family(b, "telemail_messages_total", "counter",
	       "Messages that reached an outcome since serve started.");
	tm_buf_printf(b, "telemail_messages_total{outcome=\"stored\"} %" PRIu64 "\n"
		      "telemail_messages_total{outcome=\"duplicate\"} %" PRIu64 "\n"
		      "telemail_messages_total{outcome=\"quarantined\"} %" PRIu64 "\n"
		      "telemail_messages_total{outcome=\"deferred\"} %" PRIu64 "\n",
		      rt->stored, rt->duplicate, rt->quarantined, rt->deferred);
	family(b, "telemail_smtp_connections_total", "counter",
	       "SMTP and LMTP connections accepted or refused.");
	tm_buf_printf(b, "telemail_smtp_connections_total{result=\"accepted\"} %" PRIu64 "\n"
		      "telemail_smtp_connections_total{result=\"refused\"} %" PRIu64 "\n",
		      rt->connections - (rt->connections >= rt->refused_connections
					 ? rt->refused_connections : 0),
		      rt->refused_connections);
	family(b, "telemail_smtp_sessions", "gauge", "SMTP and LMTP sessions open now.");
	tm_buf_printf(b, "telemail_smtp_sessions %" PRIu64 "\n", rt->sessions_now);
	family(b, "telemail_smtp_messages_total", "counter",
	       "Messages answered 250 (accepted) or refused in DATA.");
	tm_buf_printf(b, "telemail_smtp_messages_total{result=\"accepted\"} %" PRIu64 "\n"
		      "telemail_smtp_messages_total{result=\"refused\"} %" PRIu64 "\n",
		      rt->messages_accepted, rt->messages_refused);
	family(b, "telemail_smtp_refusals_total", "counter",
	       "Connections and messages refused or deferred, by reason code and SMTP reply code.");
	for (size_t i = 0; i < rt->n_refusals; i++) {
		tm_buf_append_str(b, "telemail_smtp_refusals_total{reason=\"");
		label_value(b, rt->refusals[i].reason);
		tm_buf_append_str(b, "\",code=\"");
		label_value(b, rt->refusals[i].code);
		tm_buf_printf(b, "\"} %" PRIu64 "\n", rt->refusals[i].n);
	}
	if (rt->refusals_other > 0)
		tm_buf_printf(b, "telemail_smtp_refusals_total{reason=\"other\",code=\"\"} %" PRIu64 "\n",
			      rt->refusals_other);
	family(b, "telemail_smtp_command_refusals_total", "counter",
	       "Refused replies to commands inside sessions (the end of a refused message is DATA's), "
	       "by command, reason code and SMTP reply code.");
	for (size_t i = 0; i < rt->n_cmd_refusals; i++) {
		tm_buf_append_str(b, "telemail_smtp_command_refusals_total{command=\"");
		label_value(b, rt->cmd_refusals[i].command);
		tm_buf_append_str(b, "\",reason=\"");
		label_value(b, rt->cmd_refusals[i].reason);
		tm_buf_append_str(b, "\",code=\"");
		label_value(b, rt->cmd_refusals[i].code);
		tm_buf_printf(b, "\"} %" PRIu64 "\n", rt->cmd_refusals[i].n);
	}
	if (rt->cmd_refusals_other > 0)
		tm_buf_printf(b, "telemail_smtp_command_refusals_total{command=\"other\",reason=\"other\","
			      "code=\"\"} %" PRIu64 "\n", rt->cmd_refusals_other);
	family(b, "telemail_spool_messages", "gauge", "Messages held in the spool.");
	tm_buf_printf(b, "telemail_spool_messages %" PRIu64 "\n", rt->spool_messages);
	family(b, "telemail_spool_bytes", "gauge", "Octets of the messages held in the spool.");
	tm_buf_printf(b, "telemail_spool_bytes %" PRIu64 "\n", rt->spool_bytes);
	family(b, "telemail_spool_queued_messages", "gauge",
	       "Spooled messages waiting for the pipeline.");
	tm_buf_printf(b, "telemail_spool_queued_messages %" PRIu64 "\n", rt->spool_queued);
	family(b, "telemail_spool_commit_rounds_total", "counter",
	       "Group commits of the spool (one fdatasync each).");
	tm_buf_printf(b, "telemail_spool_commit_rounds_total %" PRIu64 "\n", rt->spool_rounds);
	family(b, "telemail_spool_submits_total", "counter",
	       "Messages submitted to the spool, made durable or failed.");
	tm_buf_printf(b, "telemail_spool_submits_total{result=\"durable\"} %" PRIu64 "\n"
		      "telemail_spool_submits_total{result=\"failed\"} %" PRIu64 "\n",
		      rt->spool_accepted, rt->spool_failed);
	family(b, "telemail_pipeline_latency_seconds", "histogram",
	       "From a message's arrival (whole seconds) to its committed outcome.");
	uint64_t cum = 0;
	for (size_t i = 0; i < GW_WEB_LATENCY_BUCKETS; i++) {
		cum += rt->latency_buckets[i];
		tm_buf_printf(b, "telemail_pipeline_latency_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
			      gw_web_latency_bounds[i], cum);
	}
	cum += rt->latency_over;
	tm_buf_printf(b, "telemail_pipeline_latency_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n"
		      "telemail_pipeline_latency_seconds_sum %.3f\n"
		      "telemail_pipeline_latency_seconds_count %" PRIu64 "\n", cum, rt->latency_sum, cum);
	family(b, "telemail_spool_commit_round_seconds", "histogram",
	       "Time of a spool group commit: its writes and its flushes.");
	cum = 0;
	for (size_t i = 0; i < GW_SPOOL_ROUND_BUCKETS; i++) {
		cum += rt->round_buckets[i];
		tm_buf_printf(b, "telemail_spool_commit_round_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
			      gw_spool_round_bounds[i], cum);
	}
	cum += rt->round_buckets[GW_SPOOL_ROUND_BUCKETS];
	tm_buf_printf(b, "telemail_spool_commit_round_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n"
		      "telemail_spool_commit_round_seconds_sum %.6f\n"
		      "telemail_spool_commit_round_seconds_count %" PRIu64 "\n", cum, rt->round_sum, cum);
	family(b, "telemail_store_batches_total", "counter",
	       "The writer's batch commits: committed, or given up after its tries (items deferred).");
	tm_buf_printf(b, "telemail_store_batches_total{result=\"committed\"} %" PRIu64 "\n"
		      "telemail_store_batches_total{result=\"failed\"} %" PRIu64 "\n",
		      rt->batches_committed, rt->batches_failed);
	family(b, "telemail_store_retries_total", "counter",
	       "Batch commits the store answered with a transient failure, tried again, by reason.");
	tm_buf_printf(b, "telemail_store_retries_total{reason=\"store.busy\"} %" PRIu64 "\n"
		      "telemail_store_retries_total{reason=\"store.unavailable\"} %" PRIu64 "\n"
		      "telemail_store_retries_total{reason=\"other\"} %" PRIu64 "\n",
		      rt->retry_busy, rt->retry_unavailable, rt->retry_other);
	family(b, "telemail_uptime_seconds", "gauge", "Seconds since serve started.");
	tm_buf_printf(b, "telemail_uptime_seconds %" PRId64 "\n", now - rt->started);
}

static int outcome_row(void *ctx, const struct gw_web_outcome_row *o)
{
	struct tm_buf *b = ctx;
	tm_buf_printf(b, "telemail_message_log_messages{outcome=\"%s\",reason=\"",
		      gw_outcome_name(o->outcome));
	label_value(b, o->reason);
	tm_buf_printf(b, "\"} %" PRId64 "\n", o->count);
	return 0;
}

struct silence_count {
	const struct gw_web_source *src;
	uint64_t never, silent, reporting;
};

static int device_row(void *ctx, const struct gw_web_device_row *d)
{
	struct silence_count *c = ctx;
	const char *s = gw_web_silence(d->last_seq, d->last_seen, c->src->now, c->src->silence);
	if (strcmp(s, "never") == 0)
		c->never++;
	else if (strcmp(s, "silent") == 0)
		c->silent++;
	else
		c->reporting++;
	return 0;
}

/* The forwarding queue of each configured endpoint (none: forwarding off). */
static int forward_families(const struct gw_web_source *src, struct tm_buf *b)
{
	if (src->n_fwd_endpoints == 0)
		return 0;
	struct gw_fwd_stats *fs = calloc(src->n_fwd_endpoints, sizeof(*fs));
	if (fs == NULL)
		return -1;
	struct tm_error err = {0};
	for (size_t i = 0; i < src->n_fwd_endpoints; i++)
		if (gw_store_forward_stats(src->st, src->fwd_endpoints[i], &fs[i], &err) != GW_STORE_OK) {
			free(fs);
			return -1;
		}
	static const struct {
		const char *name, *type, *help;
	} fams[] = {
		{ "telemail_forward_queued_events", "gauge", "Events waiting to be forwarded." },
		{ "telemail_forward_oldest_age_seconds", "gauge",
		  "Age of the oldest event waiting (0: none)." },
		{ "telemail_forward_sent_events_total", "counter", "Events delivered." },
		{ "telemail_forward_failures_total", "counter",
		  "Batches that failed (tried again, or dead-lettered)." },
		{ "telemail_forward_dead_events", "gauge", "Events in the dead-letter list." },
	};
	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		family(b, fams[f].name, fams[f].type, fams[f].help);
		for (size_t i = 0; i < src->n_fwd_endpoints; i++) {
			int64_t v = f == 0 ? (int64_t)fs[i].queued
				  : f == 1 ? (fs[i].oldest_queued ? src->now - fs[i].oldest_queued : 0)
				  : f == 2 ? fs[i].sent
				  : f == 3 ? fs[i].retries
				  : (int64_t)fs[i].dead;
			tm_buf_printf(b, "%s{endpoint=\"", fams[f].name);
			label_value(b, src->fwd_endpoints[i]);
			tm_buf_printf(b, "\"} %" PRId64 "\n", v);
		}
	}
	free(fs);
	return 0;
}

int gw_web_metrics(const struct gw_web_source *src, const struct gw_web_runtime *rt,
		   struct tm_buf *b)
{
	struct tm_error err = {0};
	if (rt != NULL)
		runtime(b, rt, src->now);
	family(b, "telemail_message_log_messages", "gauge",
	       "Messages in the store's message log by their current outcome and reason.");
	if (gw_store_web_outcomes(src->st, outcome_row, b, &err) != GW_STORE_OK)
		return -1;
	struct silence_count sc = { .src = src };
	if (gw_store_web_devices(src->st, NULL, device_row, &sc, &err) != GW_STORE_OK)
		return -1;
	family(b, "telemail_devices", "gauge", "Enrolled devices by silence state.");
	tm_buf_printf(b, "telemail_devices{silence=\"reporting\"} %" PRIu64 "\n"
		      "telemail_devices{silence=\"silent\"} %" PRIu64 "\n"
		      "telemail_devices{silence=\"never\"} %" PRIu64 "\n",
		      sc.reporting, sc.silent, sc.never);
	struct gw_alert_row *alerts = NULL;
	size_t n = 0;
	if (gw_alerts_list(src->st, true, &alerts, &n, &err) != GW_STORE_OK)
		return -1;
	family(b, "telemail_alerts_open", "gauge", "Open (unacknowledged) alerts by kind.");
	/* alerts come in no kind order: count each kind at its first row */
	for (size_t i = 0; i < n; i++) {
		if (alerts[i].state != GW_ALERT_OPEN)
			continue;
		bool seen = false;
		for (size_t k = 0; k < i && !seen; k++)
			seen = alerts[k].state == GW_ALERT_OPEN && strcmp(alerts[k].kind, alerts[i].kind) == 0;
		if (seen)
			continue;
		uint64_t count = 0;
		for (size_t k = i; k < n; k++)
			count += alerts[k].state == GW_ALERT_OPEN && strcmp(alerts[k].kind, alerts[i].kind) == 0;
		tm_buf_append_str(b, "telemail_alerts_open{kind=\"");
		label_value(b, alerts[i].kind);
		tm_buf_printf(b, "\"} %" PRIu64 "\n", count);
	}
	free(alerts);
	struct gw_notify_channel_stats ns[GW_NOTIFY_CHANNELS];
	if (gw_notify_stats(src->st, ns, &err) != GW_STORE_OK)
		return -1;
	family(b, "telemail_notifications_queued", "gauge", "Notifications waiting to be sent.");
	for (int c = 0; c < GW_NOTIFY_CHANNELS; c++)
		tm_buf_printf(b, "telemail_notifications_queued{channel=\"%s\"} %zu\n",
			      gw_notify_channel_name((enum gw_notify_channel)c), ns[c].queued);
	family(b, "telemail_notifications_failed", "gauge",
	       "Notifications given up (notify retry queues them again).");
	for (int c = 0; c < GW_NOTIFY_CHANNELS; c++)
		tm_buf_printf(b, "telemail_notifications_failed{channel=\"%s\"} %zu\n",
			      gw_notify_channel_name((enum gw_notify_channel)c), ns[c].failed);
	family(b, "telemail_notifications_oldest_age_seconds", "gauge",
	       "Age of the oldest queued notification (0: none).");
	for (int c = 0; c < GW_NOTIFY_CHANNELS; c++)
		tm_buf_printf(b, "telemail_notifications_oldest_age_seconds{channel=\"%s\"} %" PRId64 "\n",
			      gw_notify_channel_name((enum gw_notify_channel)c),
			      ns[c].oldest_queued ? src->now - ns[c].oldest_queued : 0);
	if (forward_families(src, b) < 0)
		return -1;
	return b->data == NULL ? -1 : 0;
}
