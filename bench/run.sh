#!/usr/bin/env bash
# The one bench command: builds hbeat (Release) with the bench programs and
# runs every measurement, printing one table.
#
#   bench/run.sh            the full run (about 5 minutes on 2 cores), then
#                           the gRPC rows (hbeat-bench-grpc, under a minute)
#   bench/run.sh --smoke    a few hundred beats and short windows (CI)
#   bench/run.sh [--only latency,throughput,rss,client,python,pg] [--duration S]
#                [--beats N] [--sync full|normal]
#
# Environment:
#   HBEAT_BENCH_BUILD   build directory (default: <repo>/build-bench)
#   HBEAT_JOBS          build parallelism (default: 2)
# The table is also written to $HBEAT_BENCH_BUILD/bench-results/table.txt,
# with every figure in results.tsv next to it.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${HBEAT_BENCH_BUILD:-$root/build-bench}
jobs=${HBEAT_JOBS:-2}

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PROJECT_hbeat_INCLUDE="$root/bench/cmake/AddBench.cmake" >/dev/null
cmake --build "$build" --parallel "$jobs" --target hbeat-bench >/dev/null
# The gRPC rows are a program of their own (bench/README.md, "gRPC").
grpc=0
if grep -q '^HBEAT_WITH_GRPC:BOOL=ON' "$build/CMakeCache.txt"; then
    grpc=1
    cmake --build "$build" --parallel "$jobs" --target hbeat-bench-grpc >/dev/null
fi

out=$build/bench-results
mkdir -p "$out"
"$build/bench/hbeat-bench" --out "$out" "$@"
# Then the gRPC rows, unless only some of the parts above were asked for.
grpc_args=()
for a in "$@"; do
    case $a in
    --only) exit 0 ;;
    --smoke) grpc_args=(--smoke) ;;
    esac
done
if [ "$grpc" = 1 ]; then
    echo
    "$build/bench/hbeat-bench-grpc" "${grpc_args[@]}" | tee "$out/grpc.txt"
fi
