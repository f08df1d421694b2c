#!/usr/bin/env bash
# A scrape storm against `portscope exporter`: 50 concurrent scrapers for 10 s.
#
# Creates a network namespace of its own with ~1,000 sockets (300 TCP listeners, 200 UDP sockets,
# 250 loopback connections), runs the exporter there on 127.0.0.1:9750, and points wrk at
# /metrics from inside the namespace: 50 connections, 2 threads, 10 s (keep-alive, so every
# request is a scrape). Prints wrk's latency percentiles (p50, p99) and requests/s, and the
# exporter's CPU time over the storm from /proc/PID/stat. For scale, it also times what one
# uncached collection costs (`--cache` makes every other scrape a copy of the last one).
#
# Usage: sudo bench/exporter-load.sh [SECONDS] [CONNECTIONS]   (default 10 s, 50; needs root
# for `ip netns` and Debian's wrk: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
CONNECTIONS=${2:-50}
[ "$(id -u)" = 0 ] || { echo "exporter-load.sh: needs root (ip netns)" >&2; exit 3; }
command -v wrk >/dev/null || { echo "exporter-load.sh: needs wrk (apt-get install wrk)" >&2; exit 2; }

cargo build --release --quiet -p portscope
BIN=$PWD/target/release/portscope
NS=ps-16-load-$$
TMP=$(mktemp -d)
OPENER_PID= EXPORTER_PID=
cleanup() {
  [ -n "$EXPORTER_PID" ] && kill "$EXPORTER_PID" 2>/dev/null || true
  [ -n "$OPENER_PID" ] && kill "$OPENER_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up

cat > "$TMP/open.py" <<'PY'
import resource, socket, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
socks = []
for i in range(300):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 20000 + i)); s.listen(64); socks.append(s)
for i in range(200):
    u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u.bind(("::1", 30000 + i)); socks.append(u)
server = socks[0]
for i in range(250):
    c = socket.create_connection(("127.0.0.1", 20000)); a, _ = server.accept(); socks += [c, a]
print(len(socks), flush=True)
time.sleep(float(sys.argv[1]))
PY
ip netns exec "$NS" /usr/bin/python3 "$TMP/open.py" $((DURATION + 60)) >"$TMP/opened" &
OPENER_PID=$!
for _ in $(seq 100); do [ -s "$TMP/opened" ] && break; sleep 0.1; done
echo "sockets opened in $NS: $(cat "$TMP/opened")"

ip netns exec "$NS" "$BIN" exporter --listen 127.0.0.1:9750 2>"$TMP/exporter.log" &
EXPORTER_PID=$!
for _ in $(seq 300); do grep -q "serving" "$TMP/exporter.log" 2>/dev/null && break; sleep 0.1; done
grep -q "serving" "$TMP/exporter.log" || { cat "$TMP/exporter.log"; exit 4; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$EXPORTER_PID/stat"; }
HZ=$(getconf CLK_TCK)
# One uncached collection, for scale: the first scrape after the cache has expired.
sleep 1.2
ip netns exec "$NS" /usr/bin/python3 - <<'PY'
import time, urllib.request
t = time.perf_counter(); body = urllib.request.urlopen("http://127.0.0.1:9750/metrics", timeout=10).read()
print("one collection (uncached scrape): %.1f ms, %d bytes, %d series" % (
    (time.perf_counter() - t) * 1000, len(body), sum(1 for l in body.split(b"\n") if l and not l.startswith(b"#"))))
PY

before=$(cpu_ticks)
start=$(date +%s.%N)
ip netns exec "$NS" wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency --timeout 10s \
  http://127.0.0.1:9750/metrics | tee "$TMP/wrk.txt"
end=$(date +%s.%N)
after=$(cpu_ticks)
kill -0 "$EXPORTER_PID" || { echo "the exporter died during the storm" >&2; exit 4; }

awk -v b="$before" -v a="$after" -v hz="$HZ" -v s="$start" -v e="$end" 'BEGIN {
  cpu = (a - b) / hz; wall = e - s;
  printf "exporter CPU: %.2f s over %.1f s = %.1f%% of one core\n", cpu, wall, 100 * cpu / wall }'
awk '/ 50%/ {print "p50 latency: " $2} / 99%/ {print "p99 latency: " $2} /Requests\/sec/ {print "requests/s: " $2}' "$TMP/wrk.txt"
echo "load on the machine meanwhile: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min), $(nproc) cores"
