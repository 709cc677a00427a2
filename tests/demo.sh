#!/usr/bin/env bash
# demo.sh BUILDDIR: shows ptstub at work. Launches the sample program under ptstub through
# gdb's `target remote | ptstub - prog`, stops at a breakpoint, prints a backtrace and values.
set -euo pipefail
build=${1:?usage: demo.sh BUILDDIR}
build=$(cd "$build" && pwd)
ptstub=$build/server/ptstub
sample=$build/tests/programs/sample
for f in "$ptstub" "$sample"; do
	[ -x "$f" ] || { echo "demo: $f is missing; build first (./run build)" >&2; exit 1; }
done

script=$(mktemp /tmp/ptstub-demo.XXXXXX.gdb)
trap 'rm -f "$script"' EXIT
cat >"$script" <<GDB
set pagination off
set confirm off
set width 0
set breakpoint pending on
file $sample
break sample_break_here
break ptsample_lib_add
echo \n== gdb: target remote | ptstub - sample basic 7\n
target remote | $ptstub - $sample basic 7
echo \n== gdb: continue to a breakpoint in the shared library libptsample.so\n
continue
echo \n== gdb: backtrace\n
bt
echo \n== gdb: continue to the breakpoint at sample_break_here\n
continue
echo \n== gdb: backtrace\n
bt
echo \n== gdb: print *p (a struct on the caller's stack), *heap_value, global_counter\n
print *p
print *heap_value
print global_counter
echo \n== gdb: up one frame, print the local local_value\n
up
print local_value
echo \n== gdb: info threads\n
info threads
echo \n== gdb: continue to the end (the program exits with code 7)\n
delete
continue
GDB

echo "== demo: gdb $(gdb --version | head -1 | sed 's/.* //') debugging $sample through $ptstub"
timeout 60 gdb -batch -nx -x "$script" 2>&1 | grep -v -e '^Reading .* from remote target' \
	-e '^warning: File transfers from remote targets can be slow'
