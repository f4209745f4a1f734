/* Fuzz target: the spool's segment reader (mailgw/spool/spool_segment.c), which
 * reads every file of new/ at a start: what a crash, a lying disk or an
 * operator left there.
 *
 * Input: the octets of one file of new/. Checked, besides no crash / leak /
 * hang:
 *   - the kind is one of raw, whole, damaged, empty; a raw file does not
 *     begin with a magic line (round file or log file), the others do; an
 *     empty one (a log file) has no frame;
 *   - the frames lie inside the file, after the magic line and their own
 *     head, in order and without overlap; their octets add up to the total;
 *   - each frame reads back with its CRC (gw_seg_read with the check);
 *   - without verifying the octets, no fewer frames are found, and the
 *     verified ones are among them, the same. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <telemail/error.h>

#include "spool/spool_segment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int file_of(const uint8_t *data, size_t size)
{
	int fd = memfd_create("segment", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	size_t done = 0;
	while (done < size) {
		ssize_t w = write(fd, data + done, size - done);
		if (w <= 0)
			abort();
		done += (size_t)w;
	}
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 16)
		return 0;
	int fd = file_of(data, size);
	struct gw_seg_frame *fr = NULL, *fr2 = NULL;
	size_t n = 0, n2 = 0;
	uint64_t bytes = 0, bytes2 = 0;
	struct tm_error err = {0};
	int kind = gw_seg_load(fd, size, true, &fr, &n, &bytes, &err);
	int kind2 = gw_seg_load(fd, size, false, &fr2, &n2, &bytes2, &err);
	int magic = size >= GW_SEG_MAGIC_LEN && (memcmp(data, GW_SEG_MAGIC, GW_SEG_MAGIC_LEN) == 0 ||
						 memcmp(data, GW_SEG_MAGIC2, GW_SEG_MAGIC_LEN) == 0);
	if (kind < 0 || kind2 < 0)
		abort(); /* only out of memory, never for what the file holds */
	if ((kind == GW_SEG_RAW) == magic || (kind2 == GW_SEG_RAW) == magic)
		abort();
	if (kind != GW_SEG_RAW && kind != GW_SEG_WHOLE && kind != GW_SEG_DAMAGED &&
	    kind != GW_SEG_EMPTY)
		abort();
	if (kind == GW_SEG_RAW || kind == GW_SEG_EMPTY) {
		if (n != 0 || (kind == GW_SEG_RAW && n2 != 0))
			abort();
	} else {
		uint64_t sum = 0, end = GW_SEG_MAGIC_LEN;
		uint8_t **msgs = calloc(n ? n : 1, sizeof(*msgs));
		if (msgs == NULL)
			abort();
		for (size_t i = 0; i < n; i++) {
			if (fr[i].off < end + GW_SEG_HEAD || fr[i].len > size ||
			    fr[i].off + fr[i].len > size)
				abort();
			end = fr[i].off + fr[i].len;
			sum += fr[i].len;
			if (gw_seg_read(fd, &fr[i], true, "fuzz", &msgs[i], &err) < 0)
				abort(); /* its CRC was verified by the load */
		}
		if (sum != bytes || n2 < n)
			abort();
		/* verified frames are a subsequence of the unverified ones */
		size_t j = 0;
		for (size_t i = 0; i < n; i++) {
			while (j < n2 && fr2[j].off != fr[i].off)
				j++;
			if (j == n2 || fr2[j].len != fr[i].len || fr2[j].crc != fr[i].crc)
				abort();
		}
		for (size_t i = 0; i < n; i++)
			free(msgs[i]);
		free(msgs);
	}
	free(fr);
	free(fr2);
	close(fd);
	return 0;
}
