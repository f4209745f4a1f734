/* telemail-agent — the `file` collector: a YAML snapshot with the device
 * sections of a report (docs/device-state.md). The snapshot is checked by
 * the report schema itself: it is wrapped, in memory, into a report tree
 * (schema_version and a provisional report section made here) and
 * validated, so every rule of the wire contract applies to it. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/node.h>
#include <telemail/report.h>
#include <telemail/schema.h>

#include "collect.h"
#include "config.h"

static const char *const sections[] = { "device", "status", "counters", "supplies", "parts",
	"alerts", "diagnostics", NULL };

static void str_node(struct tm_node *n, const char *s)
{
	memset(n, 0, sizeof(*n));
	n->type = TM_NODE_STRING;
	n->u.str.s = (char *)s;
	n->u.str.len = strlen(s);
}

int ag_snapshot_parse(const uint8_t *buf, size_t len, struct tm_report **out,
		      struct tm_error *err)
{
	struct tm_node *snap = NULL;
	struct tm_node_pair *pairs = NULL;
	const struct tm_schema *schema;
	int rc = -1;
	*out = NULL;
	if (len > AG_SNAPSHOT_MAX_BYTES) {
		tm_error_set(err, "collect.format", "snapshot is %zu bytes, limit %u", len,
			     AG_SNAPSHOT_MAX_BYTES);
		goto out;
	}
	if (tm_yaml_read(buf, len, &TM_YAML_REPORT_LIMITS, &snap, err) != 0) {
		char m[TM_ERROR_MSG_MAX];
		snprintf(m, sizeof(m), "%.280s (%.30s)", err->msg, err->reason);
		tm_error_set(err, "collect.format", "snapshot: %s", m);
		goto out;
	}
	if (snap->type != TM_NODE_MAP) {
		tm_error_set(err, "collect.format", "snapshot: line %u: the document must be a mapping of sections", snap->line);
		goto out;
	}
	for (size_t i = 0; i < snap->u.map.n; i++) {
		bool ok = false;
		for (const char *const *s = sections; *s; s++)
			ok = ok || strcmp(*s, snap->u.map.pairs[i].key) == 0;
		if (!ok) {
			tm_error_set(err, "collect.format", "snapshot: line %u: unknown section '%s'",
				     snap->u.map.pairs[i].value->line, snap->u.map.pairs[i].key);
			goto out;
		}
	}
	if (tm_node_get(snap, "device") == NULL) {
		tm_error_set(err, "collect.format", "snapshot: the device section (with serial) is required");
		goto out;
	}

	/* Wrap: { schema_version: 1, report: {…provisional…}, <snapshot sections> }.
	 * The wrapper nodes are ours (stack); the sections are borrowed. */
	struct tm_node root, ver, rep, v_id, v_seq, v_kind, v_at, v_agent;
	struct tm_node_pair rp[5];
	memset(&ver, 0, sizeof(ver));
	ver.type = TM_NODE_INT;
	ver.u.i = 1;
	str_node(&v_id, "00000000-0000-4000-8000-000000000000");
	memset(&v_seq, 0, sizeof(v_seq));
	v_seq.type = TM_NODE_INT;
	v_seq.u.i = 1;
	str_node(&v_kind, "periodic");
	str_node(&v_at, "1970-01-01T00:00:00Z");
	str_node(&v_agent, "telemail-agent");
	const char *rk[5] = { "id", "seq", "kind", "generated_at", "agent" };
	struct tm_node *rv[5] = { &v_id, &v_seq, &v_kind, &v_at, &v_agent };
	for (int i = 0; i < 5; i++) {
		rp[i].key = (char *)rk[i];
		rp[i].key_len = strlen(rk[i]);
		rp[i].value = rv[i];
	}
	memset(&rep, 0, sizeof(rep));
	rep.type = TM_NODE_MAP;
	rep.u.map.pairs = rp;
	rep.u.map.n = 5;
	pairs = calloc(snap->u.map.n + 2, sizeof(*pairs));
	if (pairs == NULL) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	pairs[0].key = (char *)"schema_version";
	pairs[0].key_len = 14;
	pairs[0].value = &ver;
	pairs[1].key = (char *)"report";
	pairs[1].key_len = 6;
	pairs[1].value = &rep;
	memcpy(pairs + 2, snap->u.map.pairs, snap->u.map.n * sizeof(*pairs));
	memset(&root, 0, sizeof(root));
	root.type = TM_NODE_MAP;
	root.line = snap->line;
	root.u.map.pairs = pairs;
	root.u.map.n = snap->u.map.n + 2;

	if (tm_schema_report_v1(&schema, err) != 0)
		goto out;
	if (tm_schema_validate(schema, &root, err) != 0 ||
	    tm_report_from_node(&root, out, err) != 0) {
		char m[TM_ERROR_MSG_MAX];
		snprintf(m, sizeof(m), "%.280s (%.30s)", err->msg, err->reason);
		tm_error_set(err, "collect.format", "snapshot: %s", m);
		goto out;
	}
	rc = 0;
out:
	free(pairs);
	tm_node_free(snap);
	return rc;
}

int ag_collect_file(const char *path, struct tm_report **out, struct tm_error *err)
{
	struct tm_buf b;
	tm_buf_init(&b);
	int rc = -1;
	*out = NULL;
	if (tm_buf_read_file(&b, path, AG_SNAPSHOT_MAX_BYTES, err) != 0) {
		if (err->reason && strcmp(err->reason, "io.too_large") == 0)
			tm_error_set(err, "collect.format", "%s: larger than %u bytes", path,
				     AG_SNAPSHOT_MAX_BYTES);
		else
			tm_error_set(err, "collect.unavailable", "cannot read the snapshot: %s", err->msg);
		goto out;
	}
	if (ag_snapshot_parse(b.data, b.len, out, err) != 0) {
		tm_error_prefix(err, "%s", path);
		goto out;
	}
	rc = 0;
out:
	tm_buf_fini(&b);
	return rc;
}

void ag_collected_fini(struct ag_collected *c)
{
	if (c == NULL)
		return;
	tm_report_free(c->r);
	memset(c, 0, sizeof(*c));
}

/* A configured serial fills in a missing one. */
static void fill_serial(const struct ag_collector_config *k, struct ag_collected *c)
{
	if (c->r == NULL || k->serial == NULL || c->r->serial != NULL)
		return;
	c->r->serial = strdup(k->serial);
	if (c->r->serial == NULL) {
		ag_collected_fini(c);
		tm_error_set(&c->err, "internal.nomem", "out of memory");
	}
}

void ag_collect_many(const struct ag_collector_config *ks, size_t n, struct ag_collected *out)
{
	size_t *idx = calloc(n ? n : 1, sizeof(*idx));
	size_t ns = 0;
	for (size_t i = 0; i < n; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		if (ks[i].type == AG_COLLECT_FILE)
			ag_collect_file(ks[i].path, &out[i].r, &out[i].err);
		else if (idx != NULL)
			idx[ns++] = i;
		else
			tm_error_set(&out[i].err, "internal.nomem", "out of memory");
	}
	if (ns > 0) {
		struct ag_collected *tmp = calloc(ns, sizeof(*tmp));
		if (tmp == NULL) {
			for (size_t j = 0; j < ns; j++)
				tm_error_set(&out[idx[j]].err, "internal.nomem", "out of memory");
		} else {
			ag_collect_snmp_many(ks, idx, ns, tmp);
			for (size_t j = 0; j < ns; j++) {
				out[idx[j]] = tmp[j];
				/* raw counters point into the report, which did not move */
			}
			free(tmp);
		}
	}
	for (size_t i = 0; i < n; i++)
		fill_serial(&ks[i], &out[i]);
	free(idx);
}

int ag_collect(const struct ag_collector_config *k, struct ag_collected *out, struct tm_error *err)
{
	ag_collect_many(k, 1, out);
	if (out->r != NULL)
		return 0;
	if (err != NULL)
		*err = out->err;
	return -1;
}
