/* CPU burner for the --unwind tests, built without frame pointers (-O2 -fomit-frame-pointer).
 * main() alternates between copy_heavy(), whose hot path is libc's memcpy (a leaf written in
 * assembly, without frame pointer), and spin_light(), a pure arithmetic loop. Frame-pointer
 * unwinding cannot get from a sample in memcpy (or in either function) back to main: CFI can.
 * The program measures the share of its running time spent in copy_heavy() itself (the
 * monotonic clock around each call: time as the cpu-clock sampler sees it, steal time of a busy
 * VM included, which thread CPU time leaves out) and prints it with the rounds done, for the test
 * to compare against.
 * Runs for argv[1] seconds (default 5). With argv[2] "progress", also prints every ~50 ms a line
 * `p MONOTONIC_S IN_COPY_S ELAPSED_S` (the last two counted from the start): the share over any
 * window, such as the one a profiler sampled, since the share drifts over a run when other
 * processes contend for the memory memcpy moves. No clock read is added for it (bench/unwind.ts
 * counts the reads of a round). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BUF (256 * 1024)

static char *src, *dst;
static volatile unsigned long sink;
static volatile size_t copy_len = BUF;

static double cpu_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

__attribute__((noinline)) void copy_heavy(int rounds)
{
	for (int i = 0; i < rounds; i++) {
		memcpy(dst, src, copy_len);
		memcpy(src, dst, copy_len);
		sink += (unsigned char)dst[i & (BUF - 1)];
	}
}

__attribute__((noinline)) void spin_light(unsigned long n)
{
	unsigned long x = sink;
	for (unsigned long i = 0; i < n; i++)
		x = x * 6364136223846793005UL + 1442695040888963407UL;
	sink = x;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 5.0;
	int progress = argc > 2 && strcmp(argv[2], "progress") == 0;
	double printed = 0;
	src = malloc(BUF);
	dst = malloc(BUF);
	memset(src, 1, BUF);
	double start = cpu_now(), in_copy = 0;
	struct timespec w0, w;
	clock_gettime(CLOCK_MONOTONIC, &w0);
	unsigned long rounds = 0;
	for (;;) {
		double t0 = cpu_now();
		copy_heavy(20);
		double t1 = cpu_now();
		spin_light(400000);
		in_copy += t1 - t0;
		rounds++;
		clock_gettime(CLOCK_MONOTONIC, &w);
		double elapsed = (w.tv_sec - w0.tv_sec) + (w.tv_nsec - w0.tv_nsec) / 1e9;
		if (progress && elapsed - printed >= 0.05) {
			printf("p %.6f %.6f %.6f\n", w.tv_sec + w.tv_nsec / 1e9, in_copy, elapsed);
			printed = elapsed;
		}
		if (elapsed >= seconds)
			break;
	}
	printf("%lu %.4f\n", rounds, in_copy / (cpu_now() - start));
	return 0;
}
