#!/bin/bash
# bench/startup_bench.sh — attach + thread list + full qMemoryRegionInfo walk on a 200-thread
# process, ptstub against lldb-server-19 (and gdbserver without the walk).
# Usage: bench/startup_bench.sh [BUILD_DIR]   (default: build; BENCH_RUNS=n, BENCH_THREADS=n)
set -euo pipefail
exec python3 "$(dirname "$0")/startup_bench.py" "${1:-build}"
