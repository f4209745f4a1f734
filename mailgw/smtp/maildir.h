/* telemail-mailgw — Maildir intake: an existing MTA delivers to a Maildir;
 * `serve --maildir DIR` moves its new messages into the durable spool.
 *
 * The intake promises: a file leaves <dir>/new only once its octets are
 * durable in the spool (then it is removed) or its outcome is committed by
 * the caller (too_large). It knows nothing of reports or the store. */
#ifndef GW_MAILDIR_H
#define GW_MAILDIR_H

#include <stddef.h>

struct tm_error;
/* Move each complete file of <dir>/new into the
 * spool (durably), then remove it. *moved counts them. A file larger than
 * max_size goes to too_large(ctx, path, name) instead, which returns 0 once
 * the file's outcome is committed (quarantined: the file is then removed),
 * or -1 (it stays, tried again at the next poll, and err says io.too_large
 * after the round). */
struct gw_spool;
typedef int (*gw_maildir_too_large_fn)(void *ctx, const char *path, const char *name);
int gw_maildir_poll(const char *dir, struct gw_spool *sp, size_t max_size,
		    gw_maildir_too_large_fn too_large, void *ctx, unsigned *moved,
		    struct tm_error *err);

#endif
