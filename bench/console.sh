#!/usr/bin/env bash
# Runs the console's benchmarks of the console issue and prints the table
# with its targets: on a hub holding 100,000 visits (a year of them at 10
# doors, 17 events each, their permits with their history, the escorts),
# the server time of the dashboard, the guest book's first page and the
# service-time page (p99 at most 50 ms each), a door's event until the
# dashboard's stream client has the door's new card (p99 at most 1 s),
# and the hub's heap with 100 dashboards open. The first run generates
# the hub in bench/cache (about a minute, 600 MiB); a run then takes a few
# minutes. Run it on a quiet machine.
# Environment:
#   CONSOLE_VISITS   visits stored (100000)
#   CONSOLE_STREAMS  dashboards open at once (100)
#   PAGE_N           requests timed per page, and live updates (500)
#   COUNT            runs of every benchmark; the table takes medians (3)
#   OUT              directory for the raw go test output (a new temporary one)
set -euo pipefail
cd "$(dirname "$0")/.."
export KUNCI_BENCH_LARGE=1
COUNT=${COUNT:-3}
PAGE_N=${PAGE_N:-500}
OUT=${OUT:-$(mktemp -d)}
mkdir -p bench/cache "$OUT"
. bench/lib.sh
start=$SECONDS

machine
cache_step "hub store" TestCacheConsoleHub "-d bench/cache/console-*"

bench_step "pages: ${PAGE_N} requests each, ${COUNT} runs" "$OUT/pages.txt" \
  -bench '^BenchmarkConsolePages$' -benchtime="${PAGE_N}x" -count="$COUNT" -timeout 60m
bench_step "door event to the dashboard's stream: ${PAGE_N} updates, ${COUNT} runs" "$OUT/live.txt" \
  -bench '^BenchmarkConsoleLive$' -benchtime="${PAGE_N}x" -count="$COUNT" -timeout 60m
bench_step "${CONSOLE_STREAMS:-100} dashboards open, ${COUNT} runs" "$OUT/streams.txt" \
  -bench '^BenchmarkConsoleStreams$' -benchtime=1x -count="$COUNT" -timeout 60m
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "== console (whole run $(elapsed "$start"); medians of ${COUNT} runs)"
go run ./bench/cmd/benchtable -console "$OUT/pages.txt" "$OUT/live.txt" "$OUT/streams.txt"
