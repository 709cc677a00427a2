/* server/crash.c — the --core-on-crash policy: which signals count as a crash, where the core
 * goes, and the log line that tells the user. The writing itself is server/core/. */
#include "server/crash.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "server/core/core.h"
#include "server/log.h"
#include "server/target.h"

bool crash_signal_is_fatal(int signo)
{
	switch (signo) {
	case SIGSEGV:
	case SIGBUS:
	case SIGILL:
	case SIGFPE:
	case SIGABRT:
	case SIGSYS:
		return true;
	default:
		return false;
	}
}

int crash_core_write(struct target *t, const char *dir, pid_t tid)
{
	struct tgt_thread_stop st;
	struct tgt_process_info pi;
	if (t->ops->thread_stop(t, tid, &st) < 0 || st.reason != TGT_STOP_SIGNAL ||
	    !crash_signal_is_fatal(st.signo) || t->ops->process_info(t, &pi) < 0)
		return 1;
	char path[4096], err[512] = "";
	const char *name = sigabbrev_np(st.signo);
	snprintf(path, sizeof(path), "%s/core.%d.%s", dir, pi.pid, name ? name : "SIG");
	struct core_options opt = {.first_tid = tid, .quiet = true};
	int rc = core_write(t, path, CORE_STYLE_MODIFIED, &opt, err, sizeof(err));
	if (rc < 0)
		log_msg(LOG_ERROR, "process %d crashed (SIG%s) but its core could not be written to %s: %s",
			pi.pid, name ? name : "?", path, err[0] ? err : strerror(-rc));
	else
		log_msg(LOG_WARN, "process %d crashed (SIG%s): core written to %s", pi.pid,
			name ? name : "?", path);
	return rc;
}
