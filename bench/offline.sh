#!/usr/bin/env bash
# Runs the offline-buffer benchmark of issue 12 (BenchmarkOfflineBuffer)
# and prints its table: a door's store holding OFFLINE_N events that no hub
# acked (10,000,000, the buffer Kunci promises), its bytes per event on
# disk, the time its appends took, the door's own appends on it, and the
# drain of all of it through a real Mosquitto with end-to-end acks.
# The store is made once into bench/cache (offline-N-p10000-v1.db and its
# .json, about 5 GB for 10,000,000 events); a run copies it beside the
# cache, drains the copy into a hub store beside it, and removes both at
# the end: it needs about 3 times the store's size free. A run of
# 10,000,000 takes about 20 minutes, most of it the drain.
# Environment:
#   OFFLINE_N       events in the buffer (10000000)
#   OFFLINE_VISITS  visits timed on the full buffer and after the drain (200)
#   OUT             directory for the raw go test output (a new temporary one)
set -euo pipefail
cd "$(dirname "$0")/.."
export OFFLINE_N=${OFFLINE_N:-10000000}
export KUNCI_BENCH_LARGE=1
OUT=${OUT:-$(mktemp -d)}
mkdir -p bench/cache "$OUT"
. bench/lib.sh
need_mosquitto offline.sh
start=$SECONDS
machine "$(mosquitto_version)" "events in the buffer: $OFFLINE_N"

cache_step "the offline store, $OFFLINE_N events" TestCacheOffline "bench/cache/offline-$OFFLINE_N-*"
bench_step "offline buffer, $OFFLINE_N events" "$OUT/offline.txt" \
  -bench '^BenchmarkOfflineBuffer$' -benchtime=1x -count=1 -timeout 180m
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "== offline buffer (whole run $(elapsed "$start"))"
awk '
function row(m, v) { printf "%-78s  %s\n", m, v }
function ms(us) { return us >= 1000 ? sprintf("%.2f ms", us / 1000) : sprintf("%.0f µs", us) }
/^BenchmarkOfflineBuffer/ && NF >= 4 { for (i = 3; i < NF; i += 2) v[$(i+1)] = $i; found = 1 }
END {
  if (!found) { print "no BenchmarkOfflineBuffer line" > "/dev/stderr"; exit 1 }
  n = v["events"]
  row("measurement", "value")
  row("events stored, none acked", sprintf("%d", n))
  row("store file", sprintf("%.2f GiB", v["file-GiB"]))
  row("bytes per event on disk: the file over the events", sprintf("%.0f B", v["file-B/ev"]))
  row("  bbolt leaf pages of the events bucket per event (in use)", sprintf("%.0f B (%.0f B)", v["leaf-B/ev"], v["leaf-inuse-B/ev"]))
  row("  the event JSON alone", sprintf("%.0f B", v["json-B/ev"]))
  row("  B+tree depth; free pages", sprintf("%d; %d", v["depth"], v["free-pages"]))
  row("appending them, Appends of 1,000 events (backlog fill, coalesced writes)", sprintf("%.0f s, %.0f events/s", v["fill-s"], v["fill-ev-per-s"]))
  row("  first and last tenth of them", sprintf("%.1f s, %.1f s", v["fill-first-tenth-s"], v["fill-last-tenth-s"]))
  row("door path on the full buffer: one fsync'\''d Append an input, mean", sprintf("%s, %.0f inputs/s, %.2f events an input", ms(v["input-us"]), v["inputs-per-s"], v["ev-per-input"]))
  row("  10,000,000 events at that rate", sprintf("%.1f h", v["door-10M-h"]))
  row("  grant p50 / p99 on the full buffer", sprintf("%s / %s", ms(v["grant-p50-us"]), ms(v["grant-p99-us"])))
  row("  paired bare fsync'\''d update p50 / p99", sprintf("%s / %s (grant %.2fx / %.2fx)", ms(v["bare-p50-us"]), ms(v["bare-p99-us"]), v["grant-p50-us"] / v["bare-p50-us"], v["grant-p99-us"] / v["bare-p99-us"]))
  row("drain through Mosquitto, end-to-end acks (pump and ingest defaults)", sprintf("%.0f s (%.1f min), %.0f events/s", v["drain-s"], v["drain-s"] / 60, v["drain-ev-per-s"]))
  row("  hub duplicates; pump resends", sprintf("%d; %d", v["drain-hub-dups"], v["drain-resends"]))
  row("compactions by the drain'\''s deletions (not done)", sprintf("%d (%d)", v["compactions"], v["compactions-not-done"]))
  row("  the last: file before -> after; live data copied; the door'\''s writes paused", sprintf("%.2f GiB -> %.1f MiB; %.1f MiB; %.0f ms", v["compact-before-GiB"], v["compact-after-MiB"], v["compact-live-MiB"], v["compact-s"] * 1000))
  row("after the drain: file; free pages; freelist written on every commit", sprintf("%.3f GiB; %d; %.0f KiB", v["after-file-GiB"], v["after-free-pages"], v["after-freelist-KiB"]))
  row("  door path: input mean; grant p50 / p99", sprintf("%s; %s / %s", ms(v["after-input-us"]), ms(v["after-grant-p50-us"]), ms(v["after-grant-p99-us"])))
  row("  paired bare fsync'\''d update p50 / p99", sprintf("%s / %s (grant %.2fx / %.2fx)", ms(v["after-bare-p50-us"]), ms(v["after-bare-p99-us"]), v["after-grant-p50-us"] / v["after-bare-p50-us"], v["after-grant-p99-us"] / v["after-bare-p99-us"]))
  row("default quota: events not yet acked", sprintf("%d (low at %d, full at %d)", v["quota-events"], v["quota-low-at"], v["quota-full-at"]))
  row("  disk the quota needs at the measured bytes per event", sprintf("%.1f GB", v["quota-GB"]))
  lv = v["level-at-n"]
  row("  level with the buffer pending", lv == 0 ? "ok" : lv == 1 ? "low" : "full")
  row("  10,000,000 within the quota", n >= 10000000 && lv == 0 ? "PASS" : n < 10000000 ? "(buffer below 10,000,000)" : "MISS")
}' "$OUT/offline.txt"
