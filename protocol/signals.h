/* protocol/signals.h — GDB's own signal numbers (include/gdb/signals.def) against Linux's.
 * GDB speaks its numbering on the wire; LLDB speaks Linux numbers (native-signals). */
#ifndef PTSTUB_PROTOCOL_SIGNALS_H
#define PTSTUB_PROTOCOL_SIGNALS_H

int sig_linux_to_gdb(int linux_sig);   /* 0 -> 0; unknown -> 143 (GDB_SIGNAL_UNKNOWN) */
int sig_gdb_to_linux(int gdb_sig);     /* 0 -> 0; no Linux equivalent -> -1 */

#endif
