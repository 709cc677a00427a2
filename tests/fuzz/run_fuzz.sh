#!/bin/sh
# run_fuzz.sh HARNESS SEED_DIR SECONDS [libFuzzer options...] — one fuzz run: the seeds are read,
# new inputs and crash artifacts go under the current (build) directory, the seeds are never
# written. Exit status: the harness's (non-zero on a crash, a leak or a timeout).
set -eu
harness=$1 seeds=$2 seconds=$3
shift 3
name=$(basename "$harness")
work=fuzz-work/$name
mkdir -p "$work/corpus" "$work/artifacts"
# Undefined behaviour is a crash too, not a line in the log.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
exec "$harness" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
	-print_final_stats=1 -artifact_prefix="$work/artifacts/" "$@" "$work/corpus" "$seeds"
