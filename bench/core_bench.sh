#!/bin/bash
# bench/core_bench.sh — ptstub save-core against gdb's gcore and the kernel's own core dump of
# the same stopped process: a small threaded program and one with 1 GiB mapped / 10 MiB dirty.
# Prints sizes (apparent and on disk) and times, and the ratios gcore/ptstub.
# Usage: bench/core_bench.sh [BUILD_DIR]   (default: build)
set -euo pipefail

build=$(realpath "${1:-build}")
ptstub=$build/server/ptstub
progs=$build/tests/programs
work=$(mktemp -d /tmp/ptstub-core-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc; }
apparent() { stat -c %s "$1"; }
on_disk() { echo $(($(stat -c %b "$1") * $(stat -c %B "$1"))); }

# Start a program in its own directory with core dumps enabled; wait for its "ready" line.
start() {
	local dir=$1 prog=$2
	mkdir -p "$dir"
	(cd "$dir" && ulimit -c unlimited && exec "$prog" >"$dir/out") &
	pid=$!
	for _ in $(seq 200); do
		grep -q ready "$dir/out" 2>/dev/null && return
		sleep 0.05
	done
	echo "bench: $prog did not start" >&2
	exit 1
}

row() { printf '%-8s %-8s %14s %14s %10s\n' "$@"; }

bench_case() {
	local name=$1 prog=$2 dir=$work/$1 t
	start "$dir" "$prog"

	t=$(now)
	"$ptstub" save-core --pid "$pid" -o "$dir/skinny.core" 2>/dev/null
	local skinny_t=$(elapsed "$t")

	t=$(now)
	gdb -nx -batch -p "$pid" -ex "gcore $dir/gcore.core" >/dev/null 2>&1
	local gcore_t=$(elapsed "$t")

	kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true

	# The kernel's core, of a fresh instance (gcore faulted every page of the first one in):
	# the process dies of SIGABRT; time until it is reaped.
	start "$dir/kernel" "$prog"
	t=$(now)
	kill -ABRT "$pid"
	wait "$pid" 2>/dev/null || true
	local kernel_t=$(elapsed "$t")
	local kcore
	kcore=$(ls "$dir"/kernel/core* 2>/dev/null | head -1 || true)

	row "$name" ptstub "$(apparent "$dir/skinny.core")" "$(on_disk "$dir/skinny.core")" "$skinny_t"
	row "$name" gcore "$(apparent "$dir/gcore.core")" "$(on_disk "$dir/gcore.core")" "$gcore_t"
	if [ -n "$kcore" ]; then
		row "$name" kernel "$(apparent "$kcore")" "$(on_disk "$kcore")" "$kernel_t"
	else
		row "$name" kernel "-" "-" "(no core: see core_pattern)"
	fi
	printf '%-8s size gcore/ptstub: apparent %.1fx, on disk %.1fx; time gcore/ptstub %.1fx\n' \
		"$name" \
		"$(echo "$(apparent "$dir/gcore.core") / $(apparent "$dir/skinny.core")" | bc -l)" \
		"$(echo "$(on_disk "$dir/gcore.core") / $(on_disk "$dir/skinny.core")" | bc -l)" \
		"$(echo "$gcore_t / $skinny_t" | bc -l)"
}

row case writer "bytes" "bytes on disk" "seconds"
bench_case small "$progs/core_threads"
bench_case large "$progs/core_big"
