/* server/decode_cli.h — `ptstub decode HOST:PORT --tid N ...`: asks a running ptstub for a
 * traced thread's decoded trace (jPTStubTraceDecode, page by page) and prints it the way LLDB's
 * `thread trace dump instructions` / `function-calls` do, or as JSON, or writes the call tree
 * as a Chrome trace. */
#ifndef PTSTUB_SERVER_DECODE_CLI_H
#define PTSTUB_SERVER_DECODE_CLI_H

/* argv[0] is "decode". Exit status: 0 printed, 1 the server replied with an error, 2 usage or
 * connection errors. */
int decode_main(int argc, char **argv);

#endif
