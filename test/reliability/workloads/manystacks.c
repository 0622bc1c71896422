/* Many distinct stacks, for the reliability tests (full stack maps, big outputs).
 *
 *   manystacks MODE SECONDS
 *
 * Each round walks one call path main -> walk -> step -> fN -> step -> fN ... -> step -> leaf,
 * DEPTH levels deep, fN chosen from f0..f7 by the round number: 8^DEPTH = 32768 distinct paths.
 * MODE `cpu` spins in leaf(); MODE `sleep` blocks in leaf() for 50 us with an inline nanosleep
 * syscall (not libc's wrapper, which has no frame pointer: see test/workloads/offcpu-sleeper.c),
 * so that off-CPU stacks also start in leaf(). Runs SECONDS seconds (default 5).
 *
 * A frame-pointer walk of any stack taken here reads, after main: walk, then pairs step;fN, then
 * step, then leaf (a sample can land before the walk is complete, so any prefix of that). The
 * tests check every stack they are given against that shape: a stack put together from pieces
 * of different samples would not fit.
 *
 * Built with frame pointers and no optimisation: gcc -O0 -fno-omit-frame-pointer. */
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>

#define DEPTH 5

static volatile unsigned long sink;
static int sleeping;

static inline __attribute__((always_inline)) void raw_nanosleep(const struct timespec *req)
{
#if defined(__x86_64__)
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "0"((long)SYS_nanosleep), "D"(req), "S"(0L) : "rcx", "r11", "memory");
	(void)ret;
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = SYS_nanosleep;
	register long x0 __asm__("x0") = (long)req;
	register long x1 __asm__("x1") = 0;
	__asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1) : "memory");
#else
#error "manystacks: add the syscall instruction for this architecture"
#endif
}

__attribute__((noinline)) void leaf(void)
{
	if (sleeping) {
		struct timespec req = { 0, 500000 };
		raw_nanosleep(&req);
		return;
	}
	unsigned long x = sink;
	for (int i = 0; i < 20000; i++)
		x = x * 6364136223846793005UL + 1442695040888963407UL;
	sink = x;
}

__attribute__((noinline)) void step(unsigned depth, unsigned long path);

#define F(i) \
	__attribute__((noinline)) void f##i(unsigned depth, unsigned long path) { step(depth, path); }
F(0) F(1) F(2) F(3) F(4) F(5) F(6) F(7)

static void (*const table[8])(unsigned, unsigned long) = { f0, f1, f2, f3, f4, f5, f6, f7 };

__attribute__((noinline)) void step(unsigned depth, unsigned long path)
{
	if (depth == 0) {
		leaf();
		return;
	}
	table[path & 7](depth - 1, path >> 3);
}

__attribute__((noinline)) void walk(unsigned long round)
{
	/* an odd multiplier visits every path of the 8^DEPTH before repeating one */
	step(DEPTH, (round * 2654435761UL) & ((1UL << (3 * DEPTH)) - 1));
}

int main(int argc, char **argv)
{
	sleeping = argc > 1 && strcmp(argv[1], "sleep") == 0;
	double seconds = argc > 2 ? atof(argv[2]) : 5.0;
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (unsigned long round = 0;; round++) {
		walk(round);
		if ((round & 63) == 0) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if ((now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 >= seconds)
				return 0;
		}
	}
}
