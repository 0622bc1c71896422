/* Off-CPU workload for the offcpu kernel test. Waits for one byte on stdin (the test's "go", sent
 * once the tool is attached), then blocks COUNT times (argv[1], default 20) for MS milliseconds
 * (argv[2], default 50) in block_in_named_function(), prints the total nanoseconds those blocks
 * took, measured around each one, and exits.
 *
 * Why an inline `syscall` instruction and not libc's nanosleep(): libc is built without frame
 * pointers. A thread switched out inside libc's wrapper has its user IP in libc while its frame
 * pointer register still holds the frame of the wrapper's caller, so a frame-pointer walk goes
 * from the libc IP straight to the caller's caller: the named function itself would be missing.
 * With the instruction inline, the IP at switch-out is inside block_in_named_function, and its
 * frame (this file is built with -fno-omit-frame-pointer) leads to main. nanosleep, unlike a
 * pipe read, needs no second thread whose timing would add to the truth.
 *
 * Built with frame pointers: gcc -O1 -fno-omit-frame-pointer. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Always inlined, so that the instruction is in the caller's code and frame. */
static inline __attribute__((always_inline)) long raw_nanosleep(const struct timespec *req)
{
	long ret;
#if defined(__x86_64__)
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"((long)SYS_nanosleep), "D"(req), "S"(0L)
			 : "rcx", "r11", "memory");
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = SYS_nanosleep;
	register long x0 __asm__("x0") = (long)req;
	register long x1 __asm__("x1") = 0;
	__asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1) : "memory");
	ret = x0;
#else
#error "offcpu-sleeper: add the syscall instruction for this architecture"
#endif
	return ret;
}

/* The function the test looks for: every block happens with its IP inside it. */
__attribute__((noinline)) long long block_in_named_function(long ms)
{
	struct timespec req = { ms / 1000, (ms % 1000) * 1000000L };
	long long t0 = now_ns();
	if (raw_nanosleep(&req) != 0)
		exit(3);
	return now_ns() - t0;
}

int main(int argc, char **argv)
{
	int count = argc > 1 ? atoi(argv[1]) : 20;
	long ms = argc > 2 ? atol(argv[2]) : 50;
	char go;
	if (read(0, &go, 1) != 1)
		return 2;
	long long total = 0;
	for (int i = 0; i < count; i++)
		total += block_in_named_function(ms);
	printf("%lld\n", total);
	fflush(stdout);
	return 0;
}
