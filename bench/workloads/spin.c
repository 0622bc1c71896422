/* CPU burner: the same work as test/workloads/burner.c (hot_three holds 3/4 of the CPU time,
 * hot_one 1/4, both called from main), one unit per round. Built -O0 with frame pointers so that
 * every profiler can walk its stacks.  Usage: spin SECONDS [MAX_UNITS] */
#include "progress.h"

static volatile unsigned long sink;

#define SPIN(n)                                                                  \
	do {                                                                     \
		unsigned long x = sink;                                          \
		for (unsigned long i = 0; i < (n); i++)                          \
			x = x * 6364136223846793005UL + 1442695040888963407UL;   \
		sink = x;                                                        \
	} while (0)

__attribute__((noinline)) void hot_three(unsigned long n) { SPIN(3 * n); }
__attribute__((noinline)) void hot_one(unsigned long n) { SPIN(n); }

int main(int argc, char **argv)
{
	struct bench_progress p;
	bench_start(&p, argc, argv, 1);
	unsigned long long units = 0;
	do {
		hot_three(2000);
		hot_one(2000);
		units++;
	} while (bench_tick(&p, units));
	bench_done(&p, units);
	return 0;
}
