#!/usr/bin/env bash
# CPU cost of `portscope watch` at a 1 s interval on a machine with about 1,000 sockets.
#
# Creates a network namespace of its own, opens ~1,000 sockets inside it (TCP listeners, UDP
# sockets and established loopback connections, all inside the namespace), runs
# `portscope watch` there (netlink only shows a namespace's sockets to a process inside it), and
# reads the watcher's user+system CPU time from /proc/PID/stat over a steady-state window.
# The /proc/*/fd walk still covers every process on the host, so the figure includes the real
# cost of a busy machine. For comparison it prints what polling `ss -ltunp` once a second costs.
#
# Then it compares watch with kernel socket events (eBPF, the default where available) and with
# polling only (--no-events) under churn: a listener that opens for 20 ms and takes one loopback
# connection, 10 times a second, on top of the 1,000 sockets.
#
# Usage: sudo bench/watch-cpu.sh [SECONDS]    (default 30; needs root for `ip netns`)
# Target: under 2% of one core.
. "$(dirname "$0")/lib.sh"
SECONDS_TO_MEASURE=${1:-30}
bench_need_root "watch-cpu.sh: needs root (ip netns)" 3

bench_build
NS=ps-w7-bench-$$
bench_tmpdir TMP
WATCH_PID=
bench_netns "$NS"
bench_on_exit '[ -z "$WATCH_PID" ] || { kill "$WATCH_PID"; wait "$WATCH_PID"; }'

# 300 TCP listeners + 200 UDP sockets + 250 connections (500 sockets) = 1,000 sockets.
# While $TMP/churn exists, one extra listener opens and closes every 10 s, so that watch has
# events to print and record (each one costs a full snapshot).
bench_opener_script "$TMP/open.py"
# It outlives all the measurements below.
ip netns exec "$NS" python3 "$TMP/open.py" $((4 * SECONDS_TO_MEASURE + 60)) "$TMP/churn" > "$TMP/opened" &
bench_kill_on_exit $!
bench_wait_nonempty "$TMP/opened" 100 || true
echo "sockets opened in $NS: $(cat "$TMP/opened")"
echo "sockets the kernel reports there: $(ip netns exec "$NS" ss -tuan | tail -n +2 | wc -l)"
echo "processes on the host (walked every poll): $(ls -d /proc/[0-9]* | wc -l)"

tick=$(getconf CLK_TCK)
cpu_ticks() { bench_cpu_ticks "$1"; }

measure() { # LABEL ARGS...
  local label=$1; shift
  ip netns exec "$NS" "$BIN" watch --interval 1s --db "$TMP/history.db" "$@" > "$TMP/events" 2> "$TMP/err" &
  WATCH_PID=$!
  sleep 3 # start-up and the first snapshot are not the steady state
  local t0 c0 t1 c1
  t0=$(date +%s.%N); c0=$(cpu_ticks "$WATCH_PID")
  sleep "$SECONDS_TO_MEASURE"
  t1=$(date +%s.%N); c1=$(cpu_ticks "$WATCH_PID")
  kill -INT "$WATCH_PID"; wait "$WATCH_PID" || true; WATCH_PID=
  awk -v c="$((c1 - c0))" -v hz="$tick" -v t0="$t0" -v t1="$t1" -v l="$label" -v ev="$(wc -l < "$TMP/events")" \
    'BEGIN { printf "%-38s %5.2f%% of one core (%d ticks in %.1f s), %d events printed\n", l, 100 * c / hz / (t1 - t0), c, t1 - t0, ev }'
}

echo
measure "watch, 1,000 sockets, no change"
touch "$TMP/churn"
measure "watch, a port opens/closes every 10 s"
rm "$TMP/churn"
measure "watch --connections, no change" --connections

# Churn: 10 short-lived listeners a second, each with one connection (listen, connect, accept,
# close: a dozen kernel socket events each), for as long as $TMP/fast exists (bounded by time).
cat > "$TMP/churn.py" <<'PY'
import os, socket, sys, time
end = time.time() + float(sys.argv[1])
flag = sys.argv[2]
while time.time() < end:
    if not os.path.exists(flag):
        time.sleep(0.2)
        continue
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 7999)); s.listen(4)
    c = socket.create_connection(("127.0.0.1", 7999)); a, _ = s.accept()
    time.sleep(0.02)
    a.close(); c.close(); s.close()
    time.sleep(0.08)
PY
ip netns exec "$NS" python3 "$TMP/churn.py" $((3 * SECONDS_TO_MEASURE + 30)) "$TMP/fast" &
bench_kill_on_exit $!
echo
# These three look at the bench namespace only (PORTSCOPE_NETNS=current): other namespaces'
# churn (a test suite running beside) would otherwise count for the events side only.
touch "$TMP/fast"
PORTSCOPE_NETNS=current measure "watch (events), churn 10/s" --no-history
PORTSCOPE_NETNS=current measure "watch --no-events, churn 10/s" --no-history --no-events
rm "$TMP/fast"
PORTSCOPE_NETNS=current measure "watch (events), no churn" --no-history
grep -h "kernel socket events\|dropped" "$TMP/err" || true

# The tool a user would otherwise poll: ss with processes, once a second for the same window.
start=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
t0=$(date +%s.%N)
for _ in $(seq "$SECONDS_TO_MEASURE"); do
  ip netns exec "$NS" ss -ltunp > /dev/null
  sleep 1
done
t1=$(date +%s.%N)
end=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
awk -v c="$((end - start))" -v hz="$tick" -v t0="$t0" -v t1="$t1" \
  'BEGIN { printf "%-38s %5.2f%% of one core (ip netns exec + ss, every 1 s)\n", "ss -ltunp polled (for comparison)", 100 * c / hz / (t1 - t0) }'
