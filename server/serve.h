/* server/serve.h — `ptstub serve DIR ADDRESS`: the normal gdbserver session loop over a
 * recorded bundle instead of a launched process; each client gets a fresh recorded target and
 * recorded collector (see server/recorded/bundle.h). */
#ifndef PTSTUB_SERVER_SERVE_H
#define PTSTUB_SERVER_SERVE_H

struct session;

/* The gdbserver main loop (main.c): parses argv from index first, serves until done. */
typedef int serve_run_fn(int argc, char **argv, int first);

/* argv[0] is "serve". Opens and checks the bundle (problems on stderr), then runs the server
 * with the address and any gdbserver options given. Returns the exit code. */
int serve_main(int argc, char **argv, serve_run_fn *run);

/* Called for every new session: gives it the bundle's target and collector while serving a
 * bundle; does nothing otherwise. */
void serve_session_start(struct session *s);

#endif
