/* What every benchmark workload shares: it waits for one byte on stdin (the benchmark's "go",
 * sent once the tools it compares are attached, or at once), then does units of work for at most
 * SECONDS and at most MAX_UNITS units (0: no limit), and every 50 ms prints a progress line
 *
 *     <CLOCK_MONOTONIC ns> <units done> <CPU ns of this process and its ping-pong partner>
 *
 * from which the benchmark takes the throughput of any time window (the kernel's bpf_ktime and
 * Node's hrtime use the same clock). A last line `done <units>` ends the output. */
#ifndef BENCH_PROGRESS_H
#define BENCH_PROGRESS_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long long bench_clock(clockid_t id)
{
	struct timespec t;
	clock_gettime(id, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

struct bench_progress {
	long long end_ns;
	long long next_ns;
	unsigned long long max_units;
	/* A forked partner (ping-pong) whose CPU time counts with ours; 0: none. */
	pid_t partner;
};

/* CPU ns of a process from /proc/PID/schedstat (its first field: time on CPU); 0 if unreadable. */
static long long bench_partner_cpu(pid_t pid)
{
	char path[64];
	long long ns = 0;
	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
	FILE *f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%lld", &ns) != 1)
			ns = 0;
		fclose(f);
	}
	return ns;
}

static long long bench_cpu(const struct bench_progress *p)
{
	long long ns = bench_clock(CLOCK_PROCESS_CPUTIME_ID);
	return p->partner ? ns + bench_partner_cpu(p->partner) : ns;
}

/* Parses SECONDS and MAX_UNITS from argv[first], argv[first + 1], waits for "go". */
static void bench_start(struct bench_progress *p, int argc, char **argv, int first)
{
	double seconds = argc > first ? atof(argv[first]) : 5.0;
	p->max_units = argc > first + 1 ? strtoull(argv[first + 1], NULL, 10) : 0;
	p->partner = 0;
	if (seconds <= 0 || seconds > 900)
		seconds = 5.0; /* bounded in time, whatever the caller says */
	char go;
	if (read(0, &go, 1) != 1) {
		fprintf(stderr, "no go byte on stdin\n");
		exit(2);
	}
	long long now = bench_clock(CLOCK_MONOTONIC);
	p->end_ns = now + (long long)(seconds * 1e9);
	p->next_ns = now;
}

/* Call after each unit; returns 0 when the workload must stop. */
static int bench_tick(struct bench_progress *p, unsigned long long units)
{
	long long now = bench_clock(CLOCK_MONOTONIC);
	if (now >= p->next_ns) {
		printf("%lld %llu %lld\n", now, units, bench_cpu(p));
		fflush(stdout);
		p->next_ns += 50000000LL;
		if (p->next_ns < now)
			p->next_ns = now + 50000000LL;
	}
	if (p->max_units && units >= p->max_units)
		return 0;
	return now < p->end_ns;
}

static void bench_done(const struct bench_progress *p, unsigned long long units)
{
	printf("%lld %llu %lld\ndone %llu\n", bench_clock(CLOCK_MONOTONIC), units, bench_cpu(p), units);
	fflush(stdout);
}

#endif
