# Shared by the bench scripts (run.sh, sync.sh, hub.sh, stall.sh, console.sh,
# offline.sh, doorsoak.sh), which source it from the repository's root after
# `set -euo pipefail`: the header that says what machine a run was on, the
# broker's check, and the timed steps.

# elapsed T0 prints the seconds since T0, a reading of $SECONDS.
elapsed() { printf '%ds' $((SECONDS - $1)); }

# machine [LINE...] prints the header of a run: the CPUs, the memory, the
# file system of bench/cache, the script's own LINEs (empty ones skipped),
# Go and the load average.
machine() {
  echo "== machine"
  echo "cpus: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ //')"
  echo "memory: $(free -h 2>/dev/null | awk '/^Mem:/ {print $2}')"
  echo "bench/cache on: $(df -h --output=source,fstype,size,avail bench/cache | tail -1)"
  local line
  for line in "$@"; do
    [ -z "$line" ] || echo "$line"
  done
  go version
  echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# mosquitto_version prints the header line of the broker's version.
mosquitto_version() {
  echo "mosquitto: $( (mosquitto -h 2>/dev/null || /usr/sbin/mosquitto -h 2>/dev/null || true) | head -1)"
}

# cache_step TITLE TEST GLOB: runs TEST, which generates the cached files,
# lists those GLOB matches once they exist (quote it at the call), and
# lets the generation's writes drain before anything is timed.
cache_step() {
  local title=$1 test=$2 glob=$3 t0=$SECONDS
  echo
  echo "== $title"
  go test ./bench -run "^$test\$" -count=1 -v | grep -v '^=== RUN'
  # shellcheck disable=SC2086 # the glob is expanded here, after the test
  ls -l $glob
  sync
  echo "took $(elapsed "$t0")"
}

# bench_step TITLE FILE ARG...: runs the benchmarks of `go test ./bench
# -run '^$' ARG...` under the header "== TITLE (FILE)", writes their output
# to FILE too, and says how long they took.
bench_step() {
  local title=$1 file=$2 t0=$SECONDS
  shift 2
  echo
  echo "== $title ($file)"
  go test ./bench -run '^$' "$@" | tee "$file"
  echo "took $(elapsed "$t0")"
}

# need_mosquitto SCRIPT: exits, saying how to install it, unless the broker
# is on PATH or in /usr/sbin.
need_mosquitto() {
  command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || {
    echo "$1 needs mosquitto: apt-get install -y mosquitto" >&2
    exit 1
  }
}

# BENCH_AWK starts an awk program that reads go test's benchmark lines
# into vals[name, unit] (every run's value, space-separated; name without
# Benchmark and the -N suffix) and gives median(s), has(name, unit),
# get(name, unit) (the median; a missing one is noted in missing) and
# dur(ms). hub.sh and alarm.sh build their tables on it.
# shellcheck disable=SC2016 # awk's own $ fields
BENCH_AWK='
function median(s,   v, n, i, j, t) {
  n = split(s, v, " ")
  for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j-1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j-1]; v[j-1] = t }
  return n % 2 ? v[(n+1)/2] : (v[n/2] + v[n/2+1]) / 2
}
function has(b, u) { return ((b SUBSEP u) in vals) }
function get(b, u) { if (!has(b, u)) { missing = missing " " b "/" u; return 0 }; return median(vals[b, u]) }
function dur(ms) { return ms >= 1000 ? sprintf("%.2f s", ms / 1000) : ms >= 1 ? sprintf("%.1f ms", ms) : sprintf("%.0f µs", ms * 1000) }
/^Benchmark/ && NF >= 4 && NF % 2 == 0 {
  name = $1; sub(/^Benchmark/, "", name); sub(/-[0-9]+$/, "", name)
  for (i = 3; i < NF; i += 2) vals[name, $(i+1)] = vals[name, $(i+1)] " " $i
}
'
