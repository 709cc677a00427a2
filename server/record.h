/* server/record.h — `ptstub record`: run a program under trace with no client and, when the
 * trigger fires (a crash, the exit, or a function), write a bundle that `ptstub serve` serves:
 * a skinny core, the PT bytes per thread, the cpu info, the images and LLDB's trace.json. */
#ifndef PTSTUB_SERVER_RECORD_H
#define PTSTUB_SERVER_RECORD_H

/* argv[0] is "record". Returns the program's exit status (128 + signal when a signal killed
 * it), or 1/2 for our own failures and usage errors. */
int record_main(int argc, char **argv);

#endif
