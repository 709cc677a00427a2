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

/* A client command's main (`ptstub decode`). */
typedef int serve_client_fn(int argc, char **argv);

/* `ptstub decode DIR [OPTIONS]` with DIR a bundle: serve it on a private UNIX socket in a
 * child process and run decode against that (--tid defaults to the thread that hit the
 * trigger). Any other address goes to decode unchanged. Returns decode's exit status. */
int serve_decode(int argc, char **argv, serve_run_fn *run, serve_client_fn *decode);

/* Called for every new session: gives it the bundle's target and collector while serving a
 * bundle; does nothing otherwise. */
void serve_session_start(struct session *s);

#endif
