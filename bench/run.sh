#!/usr/bin/env bash
# Runs the agent's performance benchmarks and prints the targets of the
# issue as a table. The first run generates the stores in bench/cache
# (under a minute and 1 GiB of disk for a million permits); later runs
# reuse them. A run needs about 3 GiB free beside the cache for copies.
# Environment:
#   TAP_N    visits measured per tap benchmark, and bare updates (1000)
#   START_N  starts measured, and visits before the heap is read (5)
#   COUNT    runs of every benchmark; the table takes medians (3)
#   OUT      directory for the raw go test output (a new temporary one)
set -euo pipefail
cd "$(dirname "$0")/.."
export KUNCI_BENCH_LARGE=1
TAP_N=${TAP_N:-1000}
START_N=${START_N:-5}
COUNT=${COUNT:-3}
OUT=${OUT:-$(mktemp -d)}
mkdir -p bench/cache "$OUT"
. bench/lib.sh

blk=$(basename "$(readlink -f "$(df --output=source bench/cache | tail -1)")")
rotational=
if [ -r "/sys/class/block/$blk/queue/rotational" ]; then
  rotational="disk $blk: rotational=$(cat "/sys/class/block/$blk/queue/rotational")"
fi
machine "$rotational"

cache_step stores TestCacheStores "bench/cache/*.db"

# The bare update is the baseline of the tap: both run in one process, so
# that they see the same machine; the tap benchmark also times bare updates
# between its visits.
bench_step "tap to relay and bare update: ${TAP_N} iterations" "$OUT/tap.txt" \
  -bench '^Benchmark(BareUpdate|TapToRelay)$' -benchtime="${TAP_N}x" -count="$COUNT" -timeout 60m
bench_step "start to ready and heap: ${START_N} iterations" "$OUT/start.txt" \
  -bench '^Benchmark(StartReady|Heap)$' -benchtime="${START_N}x" -count="$COUNT" -timeout 60m

echo
echo "== targets"
go run ./bench/cmd/benchtable "$OUT/tap.txt" "$OUT/start.txt"
