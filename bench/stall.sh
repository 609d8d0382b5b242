#!/usr/bin/env bash
# Runs the benchmark of the architecture issue's point 4 and prints its
# table: the grant (tap to relay) on a door wired to a real Mosquitto as
# `kunci agent` wires it, while the outbox drains a 100,000-event backlog
# and while 1,000 malformed messages a second hit the door's downlink,
# each against the bare fsync'd bbolt update measured in the same run.
# The door's store and the bare updates go to bench/cache (the Pi's disk);
# the broker's persistence and the hub's store to KUNCI_BENCH_CENTRAL (the
# central server's disk, not the Pi's). A run takes a few minutes; run it
# on a quiet machine.
# Environment:
#   TAP_N  visits measured per load, and bare updates (1000)
#   COUNT  runs of every benchmark; the table takes medians (3)
#   OUT    directory for the raw go test output (a new temporary one)
#   KUNCI_BENCH_CENTRAL  directory for the broker and the hub, on another
#          file system than bench/cache (/dev/shm, tmpfs)
#   PIN    1: the door's process on CPU 0, the central side (broker, hub's
#          ingest, flood) on the other CPUs, as in the field, where they run
#          on the central server and the door has the Pi to itself (taskset)
set -euo pipefail
cd "$(dirname "$0")/.."
TAP_N=${TAP_N:-1000}
COUNT=${COUNT:-3}
OUT=${OUT:-$(mktemp -d)}
export KUNCI_BENCH_CENTRAL=${KUNCI_BENCH_CENTRAL:-/dev/shm}
mkdir -p bench/cache "$OUT"
. bench/lib.sh
need_mosquitto stall.sh

machine "$(mosquitto_version)" \
  "$KUNCI_BENCH_CENTRAL on (the broker and the hub): $(df -h --output=source,fstype,size,avail "$KUNCI_BENCH_CENTRAL" | tail -1)"

pin=()
if [ "${PIN:-0}" = 1 ]; then
  command -v taskset >/dev/null || { echo "PIN=1 needs taskset (util-linux)" >&2; exit 1; }
  n=$(nproc)
  [ "$n" -ge 2 ] || { echo "PIN=1 needs 2 CPUs at least; this machine has $n" >&2; exit 1; }
  export KUNCI_BENCH_CENTRAL_CPUS="1-$((n - 1))"
  pin=(-exec "taskset -c 0")
  echo "pinned: the door's process on CPU 0, the central side on CPUs $KUNCI_BENCH_CENTRAL_CPUS"
fi
bench_step "bare update and tap under load: ${TAP_N} iterations, ${COUNT} runs" "$OUT/stall.txt" "${pin[@]}" \
  -bench '^Benchmark(BareUpdate|TapUnderLoad)$' -benchtime="${TAP_N}x" -count="$COUNT" -timeout 60m
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "== targets"
go run ./bench/cmd/benchtable -stall "$OUT/stall.txt"
