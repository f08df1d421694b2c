#!/usr/bin/env bash
# A scrape storm against `portscope exporter`: 50 concurrent scrapers for 10 s.
#
# Creates a network namespace of its own with ~1,000 sockets (300 TCP listeners, 200 UDP sockets,
# 250 loopback connections), runs the exporter there on 127.0.0.1:9750, and points wrk at
# /metrics from inside the namespace: 50 connections, 2 threads, 10 s (keep-alive, so every
# request is a scrape). Prints wrk's latency percentiles (p50, p99) and requests/s, and the
# exporter's CPU time over the storm from /proc/PID/stat. For scale, it also times what one
# uncached collection costs (`--cache` makes every other scrape a copy of the last one), and runs
# the same storm against Debian's prometheus-node-exporter in the namespace when it is installed,
# printing the ratios.
#
# Usage: sudo bench/exporter-load.sh [SECONDS] [CONNECTIONS]   (default 10 s, 50; needs root
# for `ip netns` and Debian's wrk: apt-get install wrk)
. "$(dirname "$0")/lib.sh"
DURATION=${1:-10}
CONNECTIONS=${2:-50}
bench_need_root "exporter-load.sh: needs root (ip netns)" 3
command -v wrk >/dev/null || { echo "exporter-load.sh: needs wrk (apt-get install wrk)" >&2; exit 2; }

bench_build -p portscope
NS=ps-16-load-$$
bench_tmpdir TMP
bench_netns "$NS"

bench_opener_script "$TMP/open.py"
ip netns exec "$NS" /usr/bin/python3 "$TMP/open.py" $((DURATION + 60)) >"$TMP/opened" &
bench_kill_on_exit $!
bench_wait_nonempty "$TMP/opened" 100 || true
echo "sockets opened in $NS: $(cat "$TMP/opened")"

ip netns exec "$NS" "$BIN" exporter --listen 127.0.0.1:9750 2>"$TMP/exporter.log" &
EXPORTER_PID=$!
bench_kill_on_exit "$EXPORTER_PID"
bench_wait_for "$TMP/exporter.log" serving 300 || { cat "$TMP/exporter.log"; exit 4; }

HZ=$(getconf CLK_TCK)
# One uncached collection, for scale: the first scrape after the cache has expired.
sleep 1.2
ip netns exec "$NS" /usr/bin/python3 - <<'PY'
import time, urllib.request
t = time.perf_counter(); body = urllib.request.urlopen("http://127.0.0.1:9750/metrics", timeout=10).read()
print("one collection (uncached scrape): %.1f ms, %d bytes, %d series" % (
    (time.perf_counter() - t) * 1000, len(body), sum(1 for l in body.split(b"\n") if l and not l.startswith(b"#"))))
PY

# storm NAME PID URL: wrk against URL from inside the namespace; prints p50, p99, requests/s and
# PID's CPU over the run, and leaves "p50 p99 cpu_percent" in $TMP/NAME.
storm() {
  local name=$1 pid=$2 url=$3 before after start end
  before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  start=$(date +%s.%N)
  ip netns exec "$NS" wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency --timeout 10s "$url" >"$TMP/wrk-$name.txt"
  end=$(date +%s.%N)
  after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  kill -0 "$pid" || { echo "$name died during the storm" >&2; exit 4; }
  echo "== $name: $CONNECTIONS scrapers for ${DURATION}s against $url"
  grep -E "Latency  |requests in|Socket errors|Non-2xx" "$TMP/wrk-$name.txt" || true
  awk -v b="$before" -v a="$after" -v hz="$HZ" -v s="$start" -v e="$end" -v out="$TMP/$name" '
    / 50%/ { p50 = $2 } / 99%/ { p99 = $2 } /Requests\/sec/ { rps = $2 }
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    END {
      cpu = 100 * (a - b) / hz / (e - s)
      printf "p50 %s, p99 %s, %s requests/s, CPU %.1f%% of one core\n", p50, p99, rps, cpu
      printf "%f %f %f\n", ms(p50), ms(p99), cpu > out }' "$TMP/wrk-$name.txt"
}

storm portscope "$EXPORTER_PID" http://127.0.0.1:9750/metrics

# For comparison, the exporter every Prometheus user already runs, under the same storm (Debian's
# prometheus-node-exporter, default collectors, no cache), when it is installed.
NODE=$(command -v prometheus-node-exporter || command -v node_exporter || true)
if [ -n "$NODE" ]; then
  ip netns exec "$NS" "$NODE" --web.listen-address=127.0.0.1:9100 >"$TMP/node.log" 2>&1 &
  NODE_PID=$!
  bench_kill_on_exit "$NODE_PID"
  for _ in $(seq 100); do
    ip netns exec "$NS" /usr/bin/python3 -c 'import socket; socket.create_connection(("127.0.0.1", 9100), 1)' 2>/dev/null && break
    sleep 0.1
  done
  storm node_exporter "$NODE_PID" http://127.0.0.1:9100/metrics
  kill "$NODE_PID" 2>/dev/null || true
  read -r p50a p99a cpua <"$TMP/portscope"
  read -r p50b p99b cpub <"$TMP/node_exporter"
  awk -v a="$p50a" -v b="$p50b" -v c="$p99a" -v d="$p99b" -v e="$cpua" -v f="$cpub" 'BEGIN {
    printf "portscope / node_exporter: p50 %.2fx, p99 %.2fx, CPU %.2fx\n", a / b, c / d, e / f }'
else
  echo "(prometheus-node-exporter is not installed: no comparison; apt-get install prometheus-node-exporter)"
fi
echo "load on the machine meanwhile: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min), $(nproc) cores"
