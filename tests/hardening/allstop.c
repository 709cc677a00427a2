/* allstop.c — debuggees for the all-stop engine's multi-thread corner cases (test_faults.py).
 * `allstop zombie`: the main thread calls pthread_exit while a second thread keeps running,
 *   so the leader is a zombie while the process lives; once it is, the thread spins forever,
 *   calling allstop_marker now and then.
 * `allstop exitbp`: a thread ends with a raw exit syscall at allstop_exit_insn (a place for a
 *   breakpoint the thread steps off by exiting); main joins it and exits 5.
 * `allstop sleepbp`: main sleeps 60 s in a raw nanosleep syscall at allstop_sleep_insn (a
 *   breakpoint there is stepped off by blocking), then exits 6. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

void __attribute__((noinline)) allstop_marker(int x)
{
	__asm__ volatile("" ::"r"(x) : "memory");
}

/* The leader's state letter in /proc/self/task/PID/stat ('Z' once it is a zombie). */
static char leader_state(void)
{
	char path[64], buf[256], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)getpid());
	f = fopen(path, "r");
	if (!f)
		return 'X';
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	return p && p[1] && p[2] ? p[2] : '?';
}

static void *zombie_worker(void *arg)
{
	while (leader_state() != 'Z')
		usleep(1000);
	for (int n = 1;; n++) {
		for (volatile int i = 0; i < 1000000; i++)
			;
		allstop_marker(n);
	}
	return arg;
}

static void *exit_worker(void *arg)
{
	__asm__ volatile(".globl allstop_exit_insn\n"
			 ".type allstop_exit_insn, @function\n"
			 "allstop_exit_insn:\n\t"
			 "syscall"
			 :
			 : "a"(SYS_exit), "D"(0)
			 : "rcx", "r11", "memory");
	return arg;
}

static void sleep_60(void)
{
	struct timespec ts = {60, 0};

	__asm__ volatile(".globl allstop_sleep_insn\n"
			 ".type allstop_sleep_insn, @function\n"
			 "allstop_sleep_insn:\n\t"
			 "syscall"
			 :
			 : "a"(SYS_nanosleep), "D"(&ts), "S"(0)
			 : "rcx", "r11", "memory");
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "zombie";
	pthread_t th[1];

	if (!strcmp(mode, "zombie")) {
		pthread_create(&th[0], NULL, zombie_worker, NULL);
		pthread_exit(NULL);
	}
	if (!strcmp(mode, "exitbp")) {
		pthread_create(&th[0], NULL, exit_worker, NULL);
		pthread_join(th[0], NULL);
		allstop_marker(0);
		return 5;
	}
	if (!strcmp(mode, "sleepbp")) {
		sleep_60();
		return 6;
	}
	return 2;
}
