#!/bin/bash
# bench/rtt_bench.sh — packet round trip (p and qC) over TCP and over an --fd socketpair,
# ptstub against lldb-server-19 (and gdbserver over TCP); prints µs and ptstub/peer ratios.
# Usage: bench/rtt_bench.sh [BUILD_DIR]   (default: build; BENCH_RUNS=n, BENCH_RTT_COUNT=n)
set -euo pipefail
exec python3 "$(dirname "$0")/rtt_bench.py" "${1:-build}"
