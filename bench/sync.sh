#!/usr/bin/env bash
# Runs the sync benchmarks of the "Sync over MQTT" issue against a real
# Mosquitto started by the tests and prints the table: draining a backlog
# with end-to-end acks against mosquitto_pub to mosquitto_sub on the same
# broker, the way back after a broker outage, and many agent links on one
# broker. A run takes about five minutes and 1 GiB of disk in bench/cache.
# Environment:
#   SYNC_N             backlog events drained (100000)
#   SYNC_WINDOW        the tuned drain's pump Window (1024)
#   SYNC_ACK_INTERVAL  the tuned drain's hub AckInterval (50ms)
#   SYNC_DOWN          how long the broker is down per outage (10s)
#   SYNC_AGENTS        agent links on one broker (1000)
#   COUNT              runs of the drain and agents benchmarks; the table
#                      takes medians (3)
#   RESTART_N          outages measured (5)
#   PROFILE            1: also profile one default drain (CPU profile and
#                      its top functions in $OUT)
#   OUT                directory for the raw go test output (a new temporary one)
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-3}
RESTART_N=${RESTART_N:-5}
PROFILE=${PROFILE:-0}
OUT=${OUT:-$(mktemp -d)}
export SYNC_N=${SYNC_N:-100000} SYNC_AGENTS=${SYNC_AGENTS:-1000}
mkdir -p bench/cache "$OUT"
. bench/lib.sh
start=$SECONDS

# the broker and the baseline's clients; CI installs only the broker
missing=()
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v mosquitto_pub >/dev/null && command -v mosquitto_sub >/dev/null || missing+=(mosquitto-clients)
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "sync.sh needs: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

# Every agent link is a socket in this process and one in Mosquitto. The
# test binary raises its own soft limit to the hard one, but the broker it
# starts inherits this shell's soft limit: raise it here.
need=$((SYNC_AGENTS + 256))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
  hard=$(ulimit -Hn)
  if [ "$hard" != unlimited ] && [ "$hard" -lt "$need" ]; then
    echo "sync.sh: $SYNC_AGENTS agents need $need open files; the hard limit is $hard" >&2
    exit 1
  fi
  ulimit -n "$need"
fi

machine "$(mosquitto_version)" "open files: $(ulimit -n) (soft), $(ulimit -Hn) (hard)"

bench_step "drain ${SYNC_N} events, ${COUNT} runs" "$OUT/drain.txt" \
  -bench '^BenchmarkSyncDrain$' -benchtime=1x -count="$COUNT" -timeout 60m
bench_step "broker outages: ${RESTART_N} of ${SYNC_DOWN:-10s}" "$OUT/restart.txt" \
  -bench '^BenchmarkSyncRestart$' -benchtime="${RESTART_N}x" -count=1 -timeout 60m
bench_step "${SYNC_AGENTS} agents, ${COUNT} runs" "$OUT/agents.txt" \
  -bench '^BenchmarkSyncAgents$' -benchtime=1x -count="$COUNT" -timeout 30m

if [ "$PROFILE" = 1 ]; then
  echo
  echo "== CPU profile of one default drain, fill included (${OUT}/drain.cpu)"
  go test ./bench -run '^$' -bench '^BenchmarkSyncDrain/kunci$' -benchtime=1x -count=1 -timeout 30m \
    -cpuprofile "$OUT/drain.cpu" -o "$OUT/bench.test" >/dev/null
  go tool pprof -top -cum -nodecount=60 "$OUT/bench.test" "$OUT/drain.cpu" >"$OUT/drain-top.txt" 2>/dev/null
  echo "top functions: $OUT/drain-top.txt"
fi

echo
echo "== targets (whole run $(elapsed "$start"))"
go run ./bench/cmd/benchtable -sync "$OUT/drain.txt" "$OUT/restart.txt" "$OUT/agents.txt"
