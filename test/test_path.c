/* telemail/path.h: the file names both programs build under their state and
 * configuration directories — joined as written, absolute names kept. */
#include <stdlib.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <telemail/path.h>

struct path_case {
	char base[32];
	bool base_null;
	char name[32];
	char join[64];     /* tm_path_join(base, name), "" when base is NULL */
	char resolve[64];  /* tm_path_resolve(base, name) */
};

ParameterizedTestParameters(path, cases)
{
	static struct path_case cases[] = {
		{ "/var/lib/telemail", false, "telemail.db", "/var/lib/telemail/telemail.db",
		  "/var/lib/telemail/telemail.db" },
		{ "state", false, "queue", "state/queue", "state/queue" },
		{ "/etc/telemail", false, "/srv/ca.pem", "/etc/telemail//srv/ca.pem", "/srv/ca.pem" },
		{ "", false, "ca.pem", "/ca.pem", "ca.pem" },
		{ "", true, "ca.pem", "", "ca.pem" },
		{ "/etc/", false, "a", "/etc//a", "/etc//a" },   /* not normalised */
		{ "d", false, "", "d/", "d/" },
	};
	return cr_make_param_array(struct path_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct path_case *c, path, cases)
{
	const char *base = c->base_null ? NULL : c->base;
	if (base != NULL) {
		char *j = tm_path_join(base, c->name);
		cr_assert_not_null(j);
		cr_assert_str_eq(j, c->join);
		free(j);
	}
	char *r = tm_path_resolve(base, c->name);
	cr_assert_not_null(r);
	cr_assert_str_eq(r, c->resolve);
	free(r);
}
