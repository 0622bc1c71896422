/* CPU burner for the cpuprofile kernel test: main() alternates between two named functions
 * that run the same loop body, hot_three three times as many iterations as hot_one, so
 * hot_three holds 75% of the process's CPU time and hot_one 25%. Built with frame pointers so
 * that main() shows as their caller (at -O0: GCC omits the frame pointer of leaf functions at -O1 and above, even with -fno-omit-frame-pointer). Runs for argv[1] seconds (default 5), then prints how many
 * rounds it completed (the benchmark's throughput measure). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile unsigned long sink;

#define SPIN(n)                                                     \
	do {                                                        \
		unsigned long x = sink;                             \
		for (unsigned long i = 0; i < (n); i++)             \
			x = x * 6364136223846793005UL + 1442695040888963407UL; \
		sink = x;                                           \
	} while (0)

__attribute__((noinline)) void hot_three(unsigned long n) { SPIN(3 * n); }
__attribute__((noinline)) void hot_one(unsigned long n) { SPIN(n); }

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 5.0;
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (unsigned long units = 1;; units++) {
		hot_three(2000);
		hot_one(2000);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 >= seconds) {
			printf("%lu\n", units);
			return 0;
		}
	}
}
