/* Direct-I/O storm: 4 KiB O_DIRECT writes, one at a time, cycling over the first SPAN bytes of
 * PATH (a block device such as a loop device, or a file). One unit per completed write.
 * Usage: dio PATH SPAN_BYTES SECONDS [MAX_UNITS] */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include "progress.h"

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: dio PATH SPAN_BYTES SECONDS [MAX_UNITS]\n");
		return 2;
	}
	const size_t bs = 4096;
	long long span = atoll(argv[2]) / (long long)bs * (long long)bs;
	if (span < (long long)bs)
		span = bs;
	int fd = open(argv[1], O_WRONLY | O_DIRECT);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	void *buf;
	if (posix_memalign(&buf, bs, bs) != 0)
		return 1;
	memset(buf, 0xab, bs);
	struct bench_progress p;
	bench_start(&p, argc, argv, 3);
	unsigned long long units = 0;
	long long off = 0;
	do {
		if (pwrite(fd, buf, bs, off) != (ssize_t)bs) {
			perror("pwrite");
			return 1;
		}
		off += bs;
		if (off >= span)
			off = 0;
		units++;
	} while (bench_tick(&p, units));
	bench_done(&p, units);
	return 0;
}
