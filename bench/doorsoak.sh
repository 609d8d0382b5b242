#!/usr/bin/env bash
# Runs the door soak of issue 12 (BenchmarkDoorSoak) and prints its table:
# a door wired to a real Mosquitto by `kunci agent`'s wiring, in a process
# of its own, for DOORSOAK (10m) while the hub is down (the broker queues
# the door's events for the hub's session; nothing acks), with
# DOORSOAK_RATE (1,000) malformed or refused messages a second on its
# permits and cmd topics, a visit every DOORSOAK_EVERY (4s), and a backlog
# growing from DOORSOAK_BACKLOG events through a small quota
# (DOORSOAK_MAX_EVENTS), so that the store goes low, then full. Then the hub
# comes back and must hold every event of the door once. Loopback only;
# the broker and the hub on KUNCI_BENCH_CENTRAL (/dev/shm), the door's
# store and the paired bare updates in bench/cache.
# Environment:
#   DOORSOAK             how long the soak lasts (10m)
#   DOORSOAK_EVERY       a visit's pace (4s)
#   DOORSOAK_RATE        flood messages a second (1000)
#   DOORSOAK_MAX_EVENTS  the door's quota, store_quota.max_events (160000)
#   DOORSOAK_BACKLOG     events in the store, unacked, when the soak starts (155000)
#   DOORSOAK_RSS_MIB     the bound on the door process's anonymous RSS, its heap and
#                        stacks (32); the rest of its RSS is mapped files, the store's
#                        pages among them (bbolt maps the file), reported beside it
#   DOORSOAK_TABLE       a raw output file of an earlier run: print its table only
#   OUT                  directory for the raw go test output (a new temporary one)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d)}
export DOORSOAK=${DOORSOAK:-10m}
RSS=${DOORSOAK_RSS_MIB:-32}
export KUNCI_BENCH_CENTRAL=${KUNCI_BENCH_CENTRAL:-/dev/shm}
mkdir -p bench/cache "$OUT"
. bench/lib.sh
start=$SECONDS
raw=${DOORSOAK_TABLE:-}
if [ -z "$raw" ]; then
  need_mosquitto doorsoak.sh
  machine "$(mosquitto_version)" \
    "$KUNCI_BENCH_CENTRAL on (the broker and the hub): $(df -h --output=source,fstype,size,avail "$KUNCI_BENCH_CENTRAL" | tail -1)"
  raw=$OUT/doorsoak.txt
  bench_step "door soak, $DOORSOAK" "$raw" -bench '^BenchmarkDoorSoak$' -benchtime=1x -count=1 -timeout 60m
  echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
fi

echo
echo "== door soak (whole run $(elapsed "$start"))"
awk -v rss="$RSS" '
function row(m, v, b, res) { printf "%-74s  %-28s  %-16s  %s\n", m, v, b, res }
function ms(us) { return us >= 1000 ? sprintf("%.2f ms", us / 1000) : sprintf("%.0f µs", us) }
function at(s) { return s < 0 ? "never" : sprintf("after %.0f s", s) }
/^BenchmarkDoorSoak/ && NF >= 4 { for (i = 3; i < NF; i += 2) v[$(i+1)] = $i; found = 1 }
END {
  if (!found) { print "no BenchmarkDoorSoak line" > "/dev/stderr"; exit 1 }
  row("measurement", "value", "bound", "result")
  row("visits (each a grant, the door open and shut twice)", sprintf("%d in %.0f s", v["visits"], v["soak-s"]), "", "")
  r50 = v["grant-p50-us"] / v["bare-p50-us"]; r99 = v["grant-p99-us"] / v["bare-p99-us"]
  row("tap to relay p50 (paired bare update)", sprintf("%s (%s) %.2fx", ms(v["grant-p50-us"]), ms(v["bare-p50-us"]), r50), "", "report")
  row("tap to relay p99 (paired bare update)", sprintf("%s (%s) %.2fx", ms(v["grant-p99-us"]), ms(v["bare-p99-us"]), r99), "<= 1.5x", r99 <= 1.5 ? "PASS" : "MISS")
  row("tap to relay, slowest", ms(v["grant-max-us"]), "", "report")
  if ("visits-resending" in v) {
    c99 = v["calm-grant-p99-us"] / v["calm-bare-p99-us"]
    row("probes" in v ? "visits while the pump published again (ack timeouts)" : "visits while the pump sent its log again (ack timeouts)", sprintf("%d", v["visits-resending"]), "", "report")
    row("tap to relay p99 of the other visits (paired bare update)", sprintf("%s (%s) %.2fx", ms(v["calm-grant-p99-us"]), ms(v["calm-bare-p99-us"]), c99), "<= 1.5x", c99 <= 1.5 ? "PASS" : "MISS")
  }
  row("door process RSS, anonymous (heap, stacks), highest sampled", sprintf("%.1f MiB", v["rss-anon-max-MiB"]), rss " MiB", v["rss-anon-max-MiB"] <= rss ? "PASS" : "MISS")
  row("door process RSS, all, highest sampled (kernel peak; at the end)", sprintf("%.1f MiB (%.1f; %.1f MiB)", v["rss-max-MiB"], v["rss-hwm-MiB"], v["rss-end-MiB"]), "", "report")
  row("  the store file, mapped by bbolt, counted in it when its pages are", "store-MiB" in v ? sprintf("%.1f MiB", v["store-MiB"]) : "not reported", "", "report")
  if ("gc-per-s" in v)
    row("door process: garbage collections a second; heap allocated a second", sprintf("%.2f; %.2f MiB", v["gc-per-s"], v["alloc-MiB-per-s"]), "", "report")
  row("flood on permits/<id> and cmd, messages a second", sprintf("%.0f", v["flood-per-s"]), "", "")
  row("  refused by the downlink (counted)", sprintf("%d", v["downlink-refused"]), "", "")
  row("quota: events not yet acked; kept for safety events", sprintf("%d; %d", v["max-events"], v["reserve"]), "", "")
  row("backlog at the start; events the soak stored", sprintf("%d; %d", v["backlog"], v["soak-events"]), "", "")
  lv = v["level-max"]
  row("level reached", lv == 2 ? "full" : lv == 1 ? "low" : "ok", "full", lv == 2 ? "PASS" : "MISS")
  row("  low; full", sprintf("%s; %s", at(v["low-at-s"]), at(v["full-at-s"])), "", "")
  row("  visits that ended with the store full", sprintf("%d", v["visits-at-full"]), "", "")
  row("events not yet acked, highest (at the end)", sprintf("%d (%d)", v["pending-max"], v["pending-end"]), v["max-events"], v["pending-max"] <= v["max-events"] ? "PASS" : "MISS")
  row("events refused, the store full (kunci_agent_events_refused_total)", sprintf("%d", v["refused"]), "", "")
  row("taps stored, of 3 a visit", sprintf("%d of %d", v["taps-stored"], 3 * v["visits"]), "", "")
  row("visits safety events missing at the hub", sprintf("%d kinds", v["safety-missed"]), "0", v["safety-missed"] == 0 ? "PASS" : "MISS")
  if ("probes" in v)
    row("pump during the soak: published (ack timeouts: probes, full resends)", sprintf("%d (%d: %d, %d)", v["published"], v["ack-timeouts"], v["probes"], v["full-resends"]), "", "report")
  else
    row("pump during the soak: published (ack timeouts, each a resend of the log)", sprintf("%d (%d)", v["published"], v["ack-timeouts"]), "", "report")
  row("broker RSS when the soak ended (its queue for the hub session)", sprintf("%.0f MiB", v["broker-rss-MiB"]), "", "report")
  row("hub back: link up (queue handed over first); the soak acked", sprintf("%.1f s; %.1f s", v["hub-up-s"], v["hub-back-s"]), "", "report")
  row("  events the hub took from the broker (duplicates, deduped)", sprintf("%d (%d)", v["hub-received"], v["hub-duplicates"]), "", "report")
  row("hub holds the door events 1..N, N", sprintf("%d (last seq after the soak %d)", v["hub-events"], v["last-seq"]), "", "")
  ok = v["hub-dup-ids"] == 0 && v["hub-seq-gaps"] == 0 && v["hub-events"] >= v["last-seq"]
  row("  of them twice; missing", sprintf("%d; %d", v["hub-dup-ids"], v["hub-seq-gaps"]), "0; 0", ok ? "PASS" : "MISS")
  row("link drops, queue full (kunci_mqtt_dropped_total)", sprintf("%d", v["mqtt-dropped"]), "", "report")
}' "$raw"
