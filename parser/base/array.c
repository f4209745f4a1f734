/* telemail — room for one more item (telemail/array.h). */
#include <stdint.h>
#include <stdlib.h>

#include <telemail/array.h>

void *tm_array_grow(void *v, size_t *cap, size_t n, size_t size, size_t first, size_t max)
{
	if (n < *cap)
		return v;
	if (*cap >= max || size == 0)
		return NULL;
	size_t nc = *cap > 0 ? (*cap > SIZE_MAX / 2 ? SIZE_MAX : *cap * 2) : (first > 0 ? first : 1);
	if (nc > max)
		nc = max;
	if (nc > SIZE_MAX / size)
		nc = SIZE_MAX / size;
	if (nc <= n)
		return NULL;
	void *p = realloc(v, nc * size);
	if (p != NULL)
		*cap = nc;
	return p;
}
