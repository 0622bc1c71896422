/* Loopback TCP ping-pong of small messages: this process (the client) sends 32 bytes, a forked
 * server echoes them, one unit per round trip. TCP_NODELAY on both ends. Prints `port N` (the
 * server's port, for the tools' filters) before waiting for "go".
 * Usage: tcp SECONDS [MAX_UNITS] */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include "progress.h"

#define MSG 32

static int full(ssize_t (*op)(int, void *, size_t), int fd, char *buf)
{
	size_t done = 0;
	while (done < MSG) {
		ssize_t n = op(fd, buf + done, MSG - done);
		if (n <= 0)
			return 0;
		done += n;
	}
	return 1;
}

static ssize_t do_read(int fd, void *b, size_t n) { return read(fd, b, n); }
static ssize_t do_write(int fd, void *b, size_t n) { return write(fd, b, n); }

int main(int argc, char **argv)
{
	int one = 1;
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 1)) {
		perror("bind/listen");
		return 1;
	}
	socklen_t len = sizeof(a);
	getsockname(ls, (struct sockaddr *)&a, &len);
	printf("port %d\n", ntohs(a.sin_port));
	fflush(stdout);

	pid_t server = fork();
	if (server == 0) {
		int c = accept(ls, NULL, NULL);
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		char buf[MSG];
		while (full(do_read, c, buf) && full(do_write, c, buf))
			;
		_exit(0);
	}
	close(ls);
	struct bench_progress p;
	bench_start(&p, argc, argv, 1);
	p.partner = server;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(s, (struct sockaddr *)&a, sizeof(a))) {
		perror("connect");
		kill(server, SIGKILL);
		return 1;
	}
	char buf[MSG];
	memset(buf, 'x', sizeof(buf));
	unsigned long long units = 0;
	do {
		if (!full(do_write, s, buf) || !full(do_read, s, buf)) {
			perror("ping-pong");
			return 1;
		}
		units++;
	} while (bench_tick(&p, units));
	bench_done(&p, units);
	close(s);
	waitpid(server, NULL, 0);
	return 0;
}
