/* telemail-mailgw — Maildir intake: an existing MTA delivers to a Maildir;
 * serve --maildir moves its new messages into the durable spool. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <telemail/buf.h>
#include <telemail/error.h>

#include "smtp/maildir.h"
#include "spool/spool.h"

int gw_maildir_poll(const char *dir, struct gw_spool *sp, size_t max_size,
		    gw_maildir_too_large_fn too_large, void *ctx, unsigned *moved,
		    struct tm_error *err)
{
	char path[4096];
	*moved = 0;
	snprintf(path, sizeof(path), "%s/new", dir);
	struct dirent **names = NULL;
	int k = scandir(path, &names, NULL, alphasort);
	if (k < 0)
		return tm_error_set(err, "io.open", "maildir %s: %s", path, strerror(errno));
	int rc = 0;
	for (int i = 0; i < k; i++) {
		const char *n = names[i]->d_name;
		char file[4400];
		struct stat st;
		if (rc < 0 || n[0] == '.' ||
		    snprintf(file, sizeof(file), "%s/%s", path, n) >= (int)sizeof(file) ||
		    stat(file, &st) != 0 || !S_ISREG(st.st_mode))
			goto next;
		if ((uint64_t)st.st_size > max_size) {
			if (too_large != NULL && too_large(ctx, file, n) == 0) {
				unlink(file); /* quarantined; if it stays, the same entry again */
				goto next;
			}
			tm_error_set(err, "io.too_large", "maildir %s: %lld octets, more than %zu", file,
				     (long long)st.st_size, max_size);
			goto next; /* tried again at the next poll; the others go on */
		}
		struct tm_buf b;
		tm_buf_init(&b);
		char qid[GW_SPOOL_QID_MAX];
		if (tm_buf_read_file(&b, file, max_size, err) < 0 ||
		    gw_spool_put(sp, b.data ? b.data : (const uint8_t *)"", b.len, qid, err) < 0) {
			rc = -1; /* spool full or failing: stop this round, the file stays */
		} else if (unlink(file) == 0) {
			(*moved)++;
		}
		tm_buf_fini(&b);
next:
		free(names[i]);
	}
	free(names);
	return rc;
}
