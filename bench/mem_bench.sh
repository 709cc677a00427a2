#!/bin/bash
# bench/mem_bench.sh — bulk memory read (64 MiB of heap) by GDB and LLDB through ptstub,
# gdbserver and lldb-server-19; prints medians and how many times faster ptstub is.
# Usage: bench/mem_bench.sh [BUILD_DIR]   (default: build; BENCH_RUNS=n, BENCH_MEM_MIB=n)
set -euo pipefail
exec python3 "$(dirname "$0")/mem_bench.py" "${1:-build}"
