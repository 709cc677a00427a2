#!/usr/bin/env bash
# demo.sh BUILDDIR: shows ptstub at work. Part 1 launches the sample program under ptstub
# through gdb's `target remote | ptstub - prog`, stops at breakpoints, prints backtraces and
# values. Part 2 records a crashing program with `ptstub record`, then serves the bundle with
# `ptstub serve` to gdb: the crash frame, its locals, and the last instructions before it.
set -euo pipefail
build=${1:?usage: demo.sh BUILDDIR}
build=$(cd "$build" && pwd)
ptstub=$build/server/ptstub
sample=$build/tests/programs/sample
for f in "$ptstub" "$sample"; do
	[ -x "$f" ] || { echo "demo: $f is missing; build first (./run build)" >&2; exit 1; }
done

script=$(mktemp /tmp/ptstub-demo.XXXXXX.gdb)
bundle=$(mktemp -d /tmp/ptstub-demo-bundle.XXXXXX)
trap 'rm -f "$script"; rm -rf "$bundle"' EXIT
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

crash=$build/tests/programs/recorded_crash
echo
echo "== demo: \$ ptstub record -o BUNDLE -- recorded_crash   (the program dies of SIGSEGV)"
"$ptstub" record -o "$bundle/crash" -- "$crash" 2>&1 || true
echo "== demo: the bundle holds: $(cd "$bundle/crash" && echo *)"
cat >"$script" <<GDB
set pagination off
set confirm off
set width 0
file $crash
echo \n== gdb: target remote | ptstub serve BUNDLE -   (the process is long gone)\n
target remote | $ptstub serve $bundle/crash -
echo \n== gdb: where it crashed, and the locals there\n
bt
info locals
echo \n== gdb: the last instructions before the fault, from the recorded trace\n
record btrace
record instruction-history /s
echo \n== gdb: the last calls\n
record function-call-history
echo \n== gdb: a recorded target is read only\n
continue
GDB
timeout 60 gdb -batch -nx -x "$script" 2>&1 | grep -v -e '^Reading .* from remote target' \
	-e '^warning: File transfers from remote targets can be slow'
