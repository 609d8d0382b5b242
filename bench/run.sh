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

elapsed() { printf '%ds' $((SECONDS - $1)); }

echo "== machine"
echo "cpus: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ //')"
echo "memory: $(free -h 2>/dev/null | awk '/^Mem:/ {print $2}')"
dev=$(df --output=source bench/cache | tail -1)
echo "bench/cache on: $(df -h --output=source,fstype,size,avail bench/cache | tail -1)"
blk=$(basename "$(readlink -f "$dev")")
if [ -r "/sys/class/block/$blk/queue/rotational" ]; then
  echo "disk $blk: rotational=$(cat "/sys/class/block/$blk/queue/rotational")"
fi
go version
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "== stores"
t0=$SECONDS
go test ./bench -run '^TestCacheStores$' -count=1 -v | grep -v '^=== RUN'
ls -l bench/cache/*.db
# let the generation's writes drain before anything is timed
sync
echo "took $(elapsed $t0)"

# The bare update is the baseline of the tap: both run in one process, so
# that they see the same machine; the tap benchmark also times bare updates
# between its visits.
echo
echo "== tap to relay and bare update: ${TAP_N} iterations (${OUT}/tap.txt)"
t0=$SECONDS
go test ./bench -run '^$' -bench '^Benchmark(BareUpdate|TapToRelay)$' -benchtime="${TAP_N}x" \
  -count="$COUNT" -timeout 60m | tee "$OUT/tap.txt"
echo "took $(elapsed $t0)"

echo
echo "== start to ready and heap: ${START_N} iterations (${OUT}/start.txt)"
t0=$SECONDS
go test ./bench -run '^$' -bench '^Benchmark(StartReady|Heap)$' -benchtime="${START_N}x" \
  -count="$COUNT" -timeout 60m | tee "$OUT/start.txt"
echo "took $(elapsed $t0)"

echo
echo "== targets"
go run ./bench/cmd/benchtable "$OUT/tap.txt" "$OUT/start.txt"
