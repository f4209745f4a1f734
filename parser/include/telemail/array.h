/* telemail — a growable array of any element type, without a macro.
 *
 * An array is the caller's own three fields (items, n, cap); this module
 * only makes room. What it promises: the capacity doubles from `first`,
 * never passes `max` items nor SIZE_MAX bytes, and a failure leaves the
 * array as it was (still the caller's, still valid). */
#ifndef TELEMAIL_ARRAY_H
#define TELEMAIL_ARRAY_H

#include <stddef.h>

/* v (of *cap items of `size` bytes) with room for item n: v itself when
 * n < *cap, else v reallocated (and *cap raised). NULL when there is no room
 * to be had: n has reached max, or out of memory; v and *cap are untouched.
 * Pass SIZE_MAX as max for no limit but memory. */
void *tm_array_grow(void *v, size_t *cap, size_t n, size_t size, size_t first, size_t max);

#endif
