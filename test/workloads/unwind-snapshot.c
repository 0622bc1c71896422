/* A process that photographs its own user registers and stack, as the BPF side does at a sample,
 * for the unwinder's tests without the kernel: main -> level1 -> level2 -> level3, built without
 * frame pointers; level3 takes the snapshot (argv[1] "direct"), or raises a signal whose handler
 * takes it ("signal": the unwinder must cross the signal frame through libc's __restore_rt CFI).
 * Writes 17 u64 registers (DWARF order: rax rdx rcx rbx rsi rdi rbp rsp r8..r15 rip) and the
 * stack from rsp up to 16 KiB or the end of the stack to argv[2], prints "ready", then waits to
 * be killed so that its maps stay readable. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void capture(unsigned long *regs);
__asm__(".text\n"
	".globl capture\n"
	".type capture, @function\n"
	"capture:\n"
	".cfi_startproc\n"
	"	movq %rax, 0(%rdi)\n"
	"	movq %rdx, 8(%rdi)\n"
	"	movq %rcx, 16(%rdi)\n"
	"	movq %rbx, 24(%rdi)\n"
	"	movq %rsi, 32(%rdi)\n"
	"	movq %rdi, 40(%rdi)\n"
	"	movq %rbp, 48(%rdi)\n"
	"	leaq 8(%rsp), %rax\n"
	"	movq %rax, 56(%rdi)\n"
	"	movq %r8, 64(%rdi)\n"
	"	movq %r9, 72(%rdi)\n"
	"	movq %r10, 80(%rdi)\n"
	"	movq %r11, 88(%rdi)\n"
	"	movq %r12, 96(%rdi)\n"
	"	movq %r13, 104(%rdi)\n"
	"	movq %r14, 112(%rdi)\n"
	"	movq %r15, 120(%rdi)\n"
	"	movq (%rsp), %rax\n"
	"	movq %rax, 128(%rdi)\n"
	"	ret\n"
	".cfi_endproc\n"
	".size capture, .-capture\n");

static const char *out_path;
static unsigned long regs[17];
static unsigned char stack_copy[16384];
static volatile int sink;

static unsigned long stack_end(unsigned long sp)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	unsigned long lo, hi, end = sp;
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && sp >= lo && sp < hi)
			end = hi;
	}
	if (f)
		fclose(f);
	return end;
}

static void snapshot(void)
{
	capture(regs);
	unsigned long sp = regs[7];
	unsigned long n = stack_end(sp) - sp;
	if (n > sizeof(stack_copy))
		n = sizeof(stack_copy);
	memcpy(stack_copy, (void *)sp, n);
	FILE *f = fopen(out_path, "w");
	fwrite(regs, sizeof(regs), 1, f);
	fwrite(stack_copy, 1, n, f);
	fclose(f);
}

/* The snapshot is taken in the handler's own frame: snapshot() is inlined nowhere. */
__attribute__((noinline)) static void on_signal(int sig)
{
	(void)sig;
	snapshot();
	sink++;
}

__attribute__((noinline)) void level3(int how)
{
	if (how)
		raise(SIGUSR1);
	else
		snapshot();
	sink++;
}

__attribute__((noinline)) void level2(int how)
{
	level3(how);
	sink++;
}

__attribute__((noinline)) void level1(int how)
{
	level2(how);
	sink++;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	out_path = argv[2];
	int how = strcmp(argv[1], "signal") == 0;
	signal(SIGUSR1, on_signal);
	level1(how);
	printf("ready\n");
	fflush(stdout);
	pause();
	return 0;
}
