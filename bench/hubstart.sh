#!/usr/bin/env bash
# Runs the benchmarks of the guest book kept by the event store (issue 11)
# and prints the table: the hub's start over HUB_BOOK_EVENTS stored events
# on bbolt and on PostgreSQL against the book rebuilt from the events (the
# start before the book was kept, measured in the same run), and the
# guest-book and service-time queries on the book opened. The first run
# generates the bbolt store in bench/cache (as hub.sh does) and a
# PostgreSQL database kunci_bench_events_* on the machine's server made
# from it; later runs reuse both.
# Environment:
#   HUB_BOOK_EVENTS  events stored (1000000; 10000000 for the issue's target)
#   HUB_BOOK_DOORS   doors they belong to (100)
#   HUB_START_N      starts per run (5)
#   HUB_QUERY_N      queries of each kind per run (200)
#   COUNT            runs of every benchmark; the table takes medians (3)
#   OUT              directory for the raw go test output (a new temporary one)
set -euo pipefail
cd "$(dirname "$0")/.."
export KUNCI_BENCH_LARGE=1
COUNT=${COUNT:-3}
HUB_START_N=${HUB_START_N:-5}
HUB_QUERY_N=${HUB_QUERY_N:-200}
OUT=${OUT:-$(mktemp -d)}
mkdir -p bench/cache "$OUT"
. bench/lib.sh
start=$SECONDS

machine "postgres: $(psql -V 2>/dev/null || echo '?')"

cache_step "event store" TestCacheHubStore "bench/cache/hub-events-*.db"

bench_step "hub start: ${HUB_START_N} starts, ${COUNT} runs" "$OUT/start.txt" \
  -bench '^BenchmarkHubStart$' -benchtime="${HUB_START_N}x" -count="$COUNT" -timeout 120m
bench_step "queries: ${HUB_QUERY_N} of each, ${COUNT} runs" "$OUT/queries.txt" \
  -bench '^BenchmarkHubBookQueries$' -benchtime="${HUB_QUERY_N}x" -count="$COUNT" -timeout 60m

echo
echo "== hub start and guest book (whole run $(elapsed "$start"); medians of ${COUNT} runs)"
cat "$OUT/start.txt" "$OUT/queries.txt" | awk "$BENCH_AWK"'
function ratio(v, b) { return b <= 0 || v <= 0 ? "-" : v / b >= 0.01 ? sprintf("%.2fx", v / b) : sprintf("1/%.0f", b / v) }
function row(m, v, b, r, t, res) { printf "%-66s  %-10s  %-10s  %-8s  %-9s  %s\n", m, v, b, r, t, res }
END {
  row("measurement", "value", "baseline", "ratio", "target", "result")
  n = get("HubStart/rebuild", "events"); base = get("HubStart/rebuild", "ms")
  row(sprintf("start, %d events: book rebuilt from the events (before)", n), dur(base), "", "", "", "baseline")
  split("bbolt postgres hub-bbolt hub-postgres", bs, " ")
  what["bbolt"] = "bbolt store opened with its book"; what["postgres"] = "PostgreSQL store opened with its book"
  what["hub-bbolt"] = "the whole hub.New, bbolt"; what["hub-postgres"] = "the whole hub.New, PostgreSQL"
  for (i = 1; i <= 4; i++) {
    k = "HubStart/" bs[i]; v = get(k, "ms")
    row(sprintf("start, %d events: %s (%d rows)", n, what[bs[i]], get(k, "rows")),
      dur(v), dur(base), ratio(v, base), "<= 1 s", v <= 1000 ? "PASS" : "MISS")
  }
  if (has("HubStart/bbolt", "migrate-ms"))
    row("  an older bbolt store: the book built and kept, once", dur(get("HubStart/bbolt", "migrate-ms")), "", "", "", "report")
  split("page all door-day permit service-times", qs, " ")
  what["page"] = "guest book, first page (50 newest)"; what["all"] = "guest book, every row (CSV)"
  what["door-day"] = "guest book, one door, one day"; what["permit"] = "guest book, one permit"
  what["service-times"] = "service times, six months"
  for (i = 1; i <= 5; i++) {
    k = "HubBookQueries/" qs[i]; v = get(k, "p99-ms")
    row(sprintf("%s (%d rows) p50", what[qs[i]], get(k, "rows")), dur(get(k, "p50-ms")), "", "", "", "report")
    row(sprintf("%s p99", what[qs[i]]), dur(v), "", "", "< 50 ms", v < 50 ? "PASS" : "MISS")
  }
  if (missing != "") { print "missing:" missing > "/dev/stderr"; exit 1 }
}'
