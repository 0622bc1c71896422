/* Off-CPU workload for the --unwind tests, built with the distro's default flags (plain gcc -O2:
 * no frame pointers). Waits for one byte on stdin (the test's "go", sent once the tool is
 * attached), then sleeps COUNT times (argv[1], default 20) for 100 ms in nap_100ms(), which calls
 * libc's nanosleep(), prints the nanoseconds those naps took, measured around each one, and exits.
 * At each switch-out the thread's user pc is in libc (the system call wrapper), which keeps no
 * frame pointer: a frame-pointer walk loses nap_100ms and main, CFI finds them. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static volatile int failures;

/* noinline, and work after the call, so that the call is not a tail call: the frame stays. */
__attribute__((noinline)) long long nap_100ms(void)
{
	struct timespec req = { 0, 100 * 1000000L };
	long long t0 = now_ns();
	if (nanosleep(&req, NULL) != 0)
		failures++;
	return now_ns() - t0;
}

int main(int argc, char **argv)
{
	int count = argc > 1 ? atoi(argv[1]) : 20;
	char go;
	if (read(0, &go, 1) != 1)
		return 2;
	long long total = 0;
	for (int i = 0; i < count; i++)
		total += nap_100ms();
	printf("%lld\n", total);
	fflush(stdout);
	return failures ? 3 : 0;
}
