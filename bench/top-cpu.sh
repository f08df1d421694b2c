#!/usr/bin/env bash
# CPU cost of `portscope top` at a 1 s refresh on a machine with about 1,000 sockets.
#
# The same method as bench/watch-cpu.sh: a network namespace of its own with ~1,000 sockets (300
# TCP listeners, 200 UDP sockets, 250 established loopback connections, all inside it), the view
# running there on a real terminal (a detached tmux pane, 120x40), and its user+system CPU time
# read from /proc/PID/stat over a steady-state window. The /proc/*/fd walk, when one is needed,
# covers every process on the host. The tmux server's own CPU (drawing the pane) is printed apart:
# it is the terminal's cost, not portscope's. For comparison: `ss -tuanp` polled once a second.
#
# Usage: sudo bench/top-cpu.sh [SECONDS]    (default 30; needs root for `ip netns`, and tmux)
# Target: under 2% of one core.
. "$(dirname "$0")/lib.sh"
SECONDS_TO_MEASURE=${1:-30}
bench_need_root "top-cpu.sh: needs root (ip netns)" 3
command -v tmux >/dev/null || { echo "top-cpu.sh: needs tmux" >&2; exit 4; }

bench_build
NS=ps-t15-bench-$$
SOCK=ps-t15-bench-$$
bench_tmpdir TMP
bench_netns "$NS"
bench_on_exit 'tmux -L "$SOCK" kill-server'

# 300 TCP listeners + 200 UDP sockets + 250 connections (500 sockets) = 1,000 sockets.
# While $TMP/churn exists, one extra listener opens and closes every 10 s.
bench_opener_script "$TMP/open.py"
ip netns exec "$NS" /usr/bin/python3 "$TMP/open.py" $((3 * SECONDS_TO_MEASURE + 60)) "$TMP/churn" > "$TMP/opened" &
bench_kill_on_exit $!
bench_wait_nonempty "$TMP/opened" 100 || true
echo "sockets opened in $NS: $(cat "$TMP/opened")"
echo "sockets the kernel reports there: $(ip netns exec "$NS" ss -tuan | tail -n +2 | wc -l)"
echo "processes on the host (walked when a full look is needed): $(ls -d /proc/[0-9]* | wc -l)"

tick=$(getconf CLK_TCK)
cpu_ticks() { bench_cpu_ticks "$1"; }

measure() { # LABEL ARGS...
  local label=$1; shift
  tmux -L "$SOCK" new-session -d -s top -x 120 -y 40 \
    "ip netns exec $NS env PORTSCOPE_NETNS=current TERM=xterm-256color $BIN top --interval 1s $*"
  local pid server
  pid=$(tmux -L "$SOCK" display-message -p -t top '#{pane_pid}')
  server=$(tmux -L "$SOCK" display-message -p '#{pid}')
  sleep 3 # start-up and the first full look are not the steady state
  local t0 c0 s0 t1 c1 s1
  t0=$(date +%s.%N); c0=$(cpu_ticks "$pid"); s0=$(cpu_ticks "$server")
  sleep "$SECONDS_TO_MEASURE"
  t1=$(date +%s.%N); c1=$(cpu_ticks "$pid"); s1=$(cpu_ticks "$server")
  tmux -L "$SOCK" capture-pane -p -t top | head -3 > "$TMP/screen"
  tmux -L "$SOCK" send-keys -t top q
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  tmux -L "$SOCK" kill-server 2>/dev/null || true
  awk -v c="$((c1 - c0))" -v s="$((s1 - s0))" -v hz="$tick" -v t0="$t0" -v t1="$t1" -v l="$label" \
    'BEGIN { printf "%-40s %5.2f%% of one core (%d ticks in %.1f s); tmux drawing it: %.2f%%\n", l, 100 * c / hz / (t1 - t0), c, t1 - t0, 100 * s / hz / (t1 - t0) }'
}

echo
measure "top, 1,000 sockets, no change"
echo "  its header: $(head -1 "$TMP/screen")"
touch "$TMP/churn"
measure "top, a port opens/closes every 10 s"
rm "$TMP/churn"
measure "top -l (listeners only), no change" -l

# The tool a user would otherwise poll: ss with processes, once a second for the same window.
start=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
t0=$(date +%s.%N)
for _ in $(seq "$SECONDS_TO_MEASURE"); do
  ip netns exec "$NS" ss -tuanp > /dev/null
  sleep 1
done
t1=$(date +%s.%N)
end=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
awk -v c="$((end - start))" -v hz="$tick" -v t0="$t0" -v t1="$t1" \
  'BEGIN { printf "%-40s %5.2f%% of one core (ip netns exec + ss, every 1 s)\n", "ss -tuanp polled (for comparison)", 100 * c / hz / (t1 - t0) }'
