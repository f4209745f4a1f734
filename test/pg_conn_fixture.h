/* One libpq connection of the PostgreSQL back end's own (struct
 * gw_pg_conn) to a fresh database of the test's, for the tests of its
 * statement layer (test_pg_stmt.c, test_pg_later.c). Skips without a
 * server (run under test/pg_fixture.sh). */
#ifndef TM_TEST_PG_CONN_FIXTURE_H
#define TM_TEST_PG_CONN_FIXTURE_H

#include <string.h>

#include <criterion/criterion.h>
#include <telemail/error.h>

#include "store/postgresql/store_pg.h"
#include "store_fixture.h"

static struct gw_pg_conn conn;
static struct tm_error err;

static inline void tm_pg_conn_setup(void)
{
	if (!tm_store_is_pg())
		cr_skip_test("needs a PostgreSQL server (test/pg_fixture.sh)");
	tm_store_fixture_setup("/tmp", "unused");
	struct gw_store_options o = tm_store_options(NULL);
	memset(&err, 0, sizeof(err));
	cr_assert_eq(gw_pg_connect(&conn, &o, &err), GW_STORE_OK, "%s", err.msg);
}

static inline void tm_pg_conn_teardown(void)
{
	if (!tm_store_is_pg())
		return;
	gw_pg_disconnect(&conn);
	tm_store_fixture_teardown();
}

#endif
