#!/bin/bash
# bench/step_bench.sh — 5,000 single steps through GDB (ptstub, gdbserver) and LLDB (ptstub,
# lldb-server-19) against the raw ptrace single-step rate measured in the same run.
# Usage: bench/step_bench.sh [BUILD_DIR]   (default: build; BENCH_RUNS=n, BENCH_STEPS=n)
set -euo pipefail
exec python3 "$(dirname "$0")/step_bench.py" "${1:-build}"
