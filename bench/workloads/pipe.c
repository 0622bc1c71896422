/* Context-switch storm: a one-byte ping-pong over two pipes between this process and a forked
 * child; every round trip blocks each side once. One unit per round trip.
 * Usage: pipe SECONDS [MAX_UNITS] */
#include <sys/wait.h>
#include "progress.h"

int main(int argc, char **argv)
{
	int ping[2], pong[2];
	if (pipe(ping) || pipe(pong)) {
		perror("pipe");
		return 1;
	}
	struct bench_progress p;
	bench_start(&p, argc, argv, 1);
	pid_t child = fork();
	if (child == 0) {
		close(ping[1]);
		close(pong[0]);
		char c;
		while (read(ping[0], &c, 1) == 1 && write(pong[1], &c, 1) == 1)
			;
		_exit(0);
	}
	p.partner = child;
	close(ping[0]);
	close(pong[1]);
	char c = 'x';
	unsigned long long units = 0;
	do {
		if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1) {
			perror("ping-pong");
			return 1;
		}
		units++;
	} while (bench_tick(&p, units));
	bench_done(&p, units);
	close(ping[1]);
	waitpid(child, NULL, 0);
	return 0;
}
