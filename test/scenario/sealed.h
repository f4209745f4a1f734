/* Test helpers: the reports of the corpora that tests seal and deliver to
 * the real gateway (test_replay.c, test_pg_multi.c). Header-only. */
#ifndef TM_TEST_SCENARIO_SEALED_H
#define TM_TEST_SCENARIO_SEALED_H

#include <telemail/buf.h>

/* The YAML of report `seq` of device XK10000<dev> (id 5eed0000-…-<dev><seq>),
 * generated at `generated_at` (RFC 3339), with a total impressions counter
 * that grows with seq. */
static inline void sc_sealed_yaml(struct tm_buf *b, int dev, int seq, const char *generated_at)
{
	tm_buf_reset(b);
	tm_buf_printf(b,
		      "schema_version: 1\n"
		      "report:\n"
		      "  id: \"5eed0000-0000-4000-8000-%06d%06d\"\n"
		      "  seq: %d\n"
		      "  kind: periodic\n"
		      "  generated_at: \"%s\"\n"
		      "  agent: telemail-agent/0.1.0\n"
		      "device:\n"
		      "  serial: \"XK10000%d\"\n"
		      "counters:\n"
		      "  total:\n"
		      "    impressions: %d\n",
		      dev, seq, seq, generated_at, dev, 1000 + 17 * seq);
}

#endif
