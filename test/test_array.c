/* telemail/array.h: the one grow function behind the gateway's and the
 * agent's growable arrays — doubling from `first`, the cap honoured, and a
 * failure that leaves the array as it was. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <telemail/array.h>

struct row {
	int64_t id;
	char name[20];
};

/* 1000 rows one at a time: every row kept, the capacity 64, 128, … */
Test(array, grows_by_doubling_and_keeps_items)
{
	struct row *v = NULL;
	size_t n = 0, cap = 0, grew = 0;
	for (int64_t i = 0; i < 1000; i++) {
		size_t before = cap;
		struct row *p = tm_array_grow(v, &cap, n, sizeof(*p), 64, SIZE_MAX);
		cr_assert_not_null(p);
		if (cap != before) {
			cr_assert_eq(cap, before ? before * 2 : 64);
			grew++;
		}
		v = p;
		v[n].id = i;
		snprintf(v[n].name, sizeof(v[n].name), "row %lld", (long long)i);
		n++;
	}
	cr_assert_eq(cap, 1024);
	cr_assert_eq(grew, 5);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(v[i].id, (int64_t)i);
	cr_assert_str_eq(v[999].name, "row 999");
	free(v);
}

/* Room already there: the same pointer, the capacity untouched. */
Test(array, no_growth_when_room)
{
	size_t cap = 4;
	int *v = malloc(cap * sizeof(*v));
	cr_assert_eq(tm_array_grow(v, &cap, 3, sizeof(*v), 64, SIZE_MAX), v);
	cr_assert_eq(cap, 4);
	free(v);
}

/* The cap: the capacity stops at max, and item max has no room (v kept). */
Test(array, max_is_honoured)
{
	int *v = NULL;
	size_t n = 0, cap = 0;
	for (; n < 100; n++) {
		int *p = tm_array_grow(v, &cap, n, sizeof(*p), 8, 100);
		cr_assert_not_null(p, "item %zu", n);
		v = p;
		v[n] = (int)n;
	}
	cr_assert_eq(cap, 100);
	cr_assert_null(tm_array_grow(v, &cap, n, sizeof(*v), 8, 100));
	cr_assert_eq(cap, 100);
	cr_assert_eq(v[99], 99);
	free(v);
}

/* A count whose bytes would pass SIZE_MAX: refused before realloc, not
 * wrapped around; a zero size is refused too. */
Test(array, no_overflow)
{
	size_t cap = 0;
	size_t big = SIZE_MAX / 16;
	char *fake = (char *)1;   /* never touched: the call must fail before realloc */
	cr_assert_null(tm_array_grow(fake, &big, SIZE_MAX / 16, 16, 64, SIZE_MAX));
	cr_assert_eq(big, SIZE_MAX / 16);
	cr_assert_null(tm_array_grow(NULL, &cap, 0, 0, 64, SIZE_MAX));
}
