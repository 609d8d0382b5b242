#!/usr/bin/env bash
# Runs the alarm benchmarks of the alarms issue and prints the table with
# the ratios to the baseline measured in the same run: door.forced events
# through a real Mosquitto into the hub (ingest, alarm book, notifier's
# durable queue) and out by its webhook channel to a local receiver that
# checks the signature, timed from the event's commit to the receiver
# (p99 at most 2 s), against a bare POST of the same body after each;
# and a burst of 1,000 door.forced at one door, with how many messages
# it sent. A run takes about COUNT x 1.5 minutes (each burst waits out
# the notifier's minute-long window).
# Environment:
#   ALARM_N      alarms timed per run (1000)
#   ALARM_BURST  door.forced events of the burst (1000)
#   COUNT        runs of every benchmark; the table takes medians (3)
#   OUT          directory for the raw go test output (a new temporary one)
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-3}
ALARM_N=${ALARM_N:-1000}
OUT=${OUT:-$(mktemp -d)}
mkdir -p bench/cache "$OUT"
. bench/lib.sh
start=$SECONDS
need_mosquitto alarm.sh

machine "$(mosquitto_version)"

bench_step "door.forced to the webhook: ${ALARM_N} alarms, ${COUNT} runs" "$OUT/latency.txt" \
  -bench '^BenchmarkAlarmToChannel$' -benchtime="${ALARM_N}x" -count="$COUNT" -timeout 60m
bench_step "a burst of ${ALARM_BURST:-1000} door.forced at one door, ${COUNT} runs" "$OUT/burst.txt" \
  -bench '^BenchmarkAlarmBurst$' -benchtime=1x -count="$COUNT" -timeout 60m
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "== alarms (whole run $(elapsed "$start"); medians of ${COUNT} runs)"
cat "$OUT/latency.txt" "$OUT/burst.txt" | awk "$BENCH_AWK"'
function ratio(v, b) { return b <= 0 || v <= 0 ? "-" : sprintf("%.1fx", v / b) }
function row(m, v, b, r, t, res) { printf "%-62s  %-9s  %-9s  %-7s  %-8s  %s\n", m, v, b, r, t, res }
END {
  row("measurement", "value", "baseline", "ratio", "target", "result")
  k = "AlarmToChannel"
  if (has(k, "p99-ms")) {
    for (i = 1; i <= 3; i++) {
      p = i == 1 ? "p50" : i == 2 ? "p99" : "max"
      row("bare POST of the webhook body, round trip, " p, dur(get(k, "bare-" p "-ms")), "", "", "", "baseline")
    }
    for (i = 1; i <= 3; i++) {
      p = i == 1 ? "p50" : i == 2 ? "p99" : "max"
      v = get(k, p "-ms"); b = get(k, "bare-" p "-ms")
      row("event stored -> handed to the webhook (taken), " p, dur(v), dur(b), ratio(v, b),
        p == "p99" ? "<= 2 s" : "none", p == "p99" ? (v <= 2000 ? "PASS" : "MISS") : "report")
    }
    for (i = 1; i <= 2; i++) {
      p = i == 1 ? "p50" : "p99"
      row("  door publish -> stored (broker, ingest), " p, dur(get(k, "ingest-" p "-ms")), "", "", "none", "report")
      row("  door publish -> handed to the webhook, " p, dur(get(k, "whole-" p "-ms")), "", "", "none", "report")
    }
  }
  k = "AlarmBurst"
  if (has(k, "messages")) {
    n = get(k, "events")
    row(sprintf("burst of %d door.forced at one door: alarms opened", n), sprintf("%d", get(k, "alarms")), "", "", n, get(k, "alarms") == n ? "PASS" : "MISS")
    row(sprintf("  taking %s (the notifier coalesces per minute)", dur(get(k, "burst-s") * 1000)), "", "", "", "", "")
    m = get(k, "messages")
    row(sprintf("burst of %d door.forced: messages sent", n), sprintf("%d", m), "", "", "<= 5", m <= 5 ? "PASS" : "MISS")
  }
  if (missing != "") { print "missing:" missing > "/dev/stderr"; exit 1 }
}'
