/* Fuzz target: report YAML → tree (limits) → schema → model → canonical
 * record, plus the round-trip property on every accepted input:
 * write(read(x)) re-reads to an equal model and re-writes to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/normalize.h>
#include <telemail/report.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tm_error err = {0};
	struct tm_report *r = NULL, *r2 = NULL;
	struct tm_buf y1, y2, json;
	tm_buf_init(&y1);
	tm_buf_init(&y2);
	tm_buf_init(&json);
	if (tm_report_read(data, size, NULL, &r, &err) < 0) {
		if (err.reason == NULL)
			abort();
		goto out;
	}
	if (tm_report_normalize(r, &json, &err) < 0 || tm_report_write_yaml(r, &y1, &err) < 0)
		abort(); /* a valid report always normalizes and writes */
	if (tm_report_read(y1.data, y1.len, NULL, &r2, &err) < 0)
		abort(); /* what we write we read */
	if (!tm_report_equal(r, r2))
		abort();
	if (tm_report_write_yaml(r2, &y2, &err) < 0 || y1.len != y2.len ||
	    memcmp(y1.data, y2.data, y1.len) != 0)
		abort(); /* deterministic */
out:
	tm_report_free(r);
	tm_report_free(r2);
	tm_buf_fini(&y1);
	tm_buf_fini(&y2);
	tm_buf_fini(&json);
	return 0;
}
