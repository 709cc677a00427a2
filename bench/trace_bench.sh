#!/bin/bash
# bench/trace_bench.sh — software trace capture against raw ptrace single steps, decode
# throughput (1, 2, 4 threads) and ptstub's decode against lldb-19's of the same trace.
# Usage: bench/trace_bench.sh [BUILD_DIR]   (default: build; BENCH_RUNS=n,
# BENCH_TRACE_ROUNDS=n, BENCH_TRACE_MIB=n)
set -euo pipefail
exec python3 "$(dirname "$0")/trace_bench.py" "${1:-build}"
