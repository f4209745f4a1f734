/* Fuzz target: the gateway's path after decryption — a MIME entity →
 * application/yaml body → report (YAML limits, schema) → canonical record.
 * Any input must end in a clean accept or a reason code, never a crash, a
 * leak or a hang. Built with -Dfuzz=true (clang, libFuzzer); without it the
 * same target runs over its seed corpus from fuzz_replay.c in the suite. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/normalize.h>
#include <telemail/report.h>
#include <telemail/smime.h>

#include "smime/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tm_error err = {0};
	struct tm_mime_entity e;
	tm_mime_entity_init(&e);
	if (tm_mime_parse(data, size, false, &TM_MIME_DEFAULT_LIMITS, &e, &err) == 0) {
		if (err.reason != NULL)
			abort(); /* success must not leave an error behind */
		if (e.kind == TM_MIME_LEAF && strcmp(e.content_type, "application/yaml") == 0) {
			struct tm_report *r = NULL;
			if (tm_report_read(e.body.data, e.body.len, NULL, &r, &err) == 0) {
				struct tm_buf json;
				tm_buf_init(&json);
				if (tm_report_normalize(r, &json, &err) < 0 && err.reason == NULL)
					abort();
				tm_buf_fini(&json);
			} else if (err.reason == NULL) {
				abort(); /* a failure must carry a reason code */
			}
			tm_report_free(r);
		}
	} else if (err.reason == NULL) {
		abort();
	}
	tm_mime_entity_fini(&e);
	return 0;
}
