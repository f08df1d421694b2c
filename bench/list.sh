#!/usr/bin/env bash
# Times `portscope list` against ss and lsof on N loopback TCP connections: `--json` (the model),
# the default table (listeners, one line per program, the audit's verdicts) and `--all`; then the
# same with every connection held by one process (ONE_PROCESS connections, both ends: 10,000
# sockets by default). `--json` is also timed with each way of finding the sockets' owners
# (PORTSCOPE_OWNERS=walk: the /proc/*/fd walk; =load: the BPF iterator loaded on every run; the
# default: the iterator pinned in /sys/fs/bpf/portscope by the first run).
#
# The connections live in a network namespace this script creates (ps-bench-list-PID), held by
# a few worker processes it starts there; every tool runs inside that namespace, so the figures
# cover exactly these sockets (plus nothing else; portscope runs with --netns current, as ss sees
# one namespace). Tools are timed under `nsenter --net` (the namespace only; /sys stays the
# host's, with its bpffs). Everything is removed on exit.
#
#   bench/list.sh                 # N = 10000 and 40000, then 5000 in one process
#   COUNTS="1000" ONE_PROCESS=500 RUNS=5 bench/list.sh
. "$(dirname "$0")/lib.sh"

COUNTS=${COUNTS:-"10000 40000"}
ONE_PROCESS=${ONE_PROCESS:-5000}
RUNS=${RUNS:-10}
# Each worker holds both ends of its connections; keep it well under the descriptor hard limit.
FDS_PER_WORKER=$(( $(ulimit -Hn) - 100 ))
[ "$FDS_PER_WORKER" -gt 16000 ] && FDS_PER_WORKER=16000
NS="ps-bench-list-$$"

bench_need hyperfine hyperfine
bench_need lsof lsof
bench_need ss iproute2
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
bench_need_root "bench/list.sh: needs root (network namespaces)" 3
bench_build
bench_tmpdir OUT

bench_netns "$NS"
pids=()
bench_on_exit 'for pid in "${pids[@]}"; do kill "$pid"; done; wait'
ip netns exec "$NS" sysctl -qw net.ipv4.ip_local_port_range="1024 65000"

# One worker: a listener on its own port and COUNT connections to it, holding both ends (every
# JSON row carries its short command line).
bench_worker_script "$OUT/worker.py"

# start_workers N [WORKERS]: N connections over WORKERS processes (at least 4 unless given).
start_workers() {
  local n=$1
  WORKERS=$(( (2 * n + FDS_PER_WORKER - 1) / FDS_PER_WORKER ))
  [ "$WORKERS" -lt 4 ] && WORKERS=4
  [ -n "${2:-}" ] && WORKERS=$2
  local per=$(( n / WORKERS ))
  pids=()
  for i in $(seq 1 "$WORKERS"); do
    ip netns exec "$NS" bash -c "ulimit -n \$(ulimit -Hn); exec python3 $OUT/worker.py $((20000 + i)) $per" > "$OUT/worker$i" &
    pids+=("$!")
  done
  for i in $(seq 1 "$WORKERS"); do
    bench_wait_for "$OUT/worker$i" ready 600 || { echo "worker $i did not start" >&2; exit 4; }
  done
}

stop_workers() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
}

peak_kib() { nsenter --net="/run/netns/$NS" /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -n 1; }

# measure NAME: times every tool on the sockets held now and prints the table (NAME labels files).
measure() {
  local n=$1
  # nsenter --net, not ip netns exec: the latter mounts a fresh /sys, which hides the bpffs at
  # /sys/fs/bpf where the owners iterator is pinned (portscope would walk /proc there).
  nsenter --net="/run/netns/$NS" hyperfine -N --warmup 2 --runs "$RUNS" --style basic \
    --export-json "$OUT/$n.json" \
    -n "portscope list --tcp --json" "$BIN --netns current list --tcp --json" \
    -n "portscope list --tcp" "$BIN --netns current list --tcp" \
    -n "portscope list --tcp --all" "$BIN --netns current list --tcp --all" \
    -n "  owners: /proc walk" "env PORTSCOPE_OWNERS=walk $BIN --netns current list --tcp --json" \
    -n "  owners: iterator loaded per run" "env PORTSCOPE_OWNERS=load $BIN --netns current list --tcp --json" \
    -n "  owners: pinned iterator" "env PORTSCOPE_OWNERS=pin $BIN --netns current list --tcp --json" \
    -n "ss -tanp" "ss -tanp" \
    -n "ss -tan" "ss -tan" \
    -n "lsof -nP -iTCP" "lsof -nP -iTCP" >/dev/null
  {
    echo "portscope list --tcp --json	$(peak_kib "$BIN" --netns current list --tcp --json)"
    echo "portscope list --tcp	$(peak_kib "$BIN" --netns current list --tcp)"
    echo "portscope list --tcp --all	$(peak_kib "$BIN" --netns current list --tcp --all)"
    echo "  owners: /proc walk	$(peak_kib env PORTSCOPE_OWNERS=walk "$BIN" --netns current list --tcp --json)"
    echo "  owners: iterator loaded per run	$(peak_kib env PORTSCOPE_OWNERS=load "$BIN" --netns current list --tcp --json)"
    echo "  owners: pinned iterator	$(peak_kib env PORTSCOPE_OWNERS=pin "$BIN" --netns current list --tcp --json)"
    echo "ss -tanp	$(peak_kib ss -tanp)"
    echo "ss -tan	$(peak_kib ss -tan)"
    echo "lsof -nP -iTCP	$(peak_kib lsof -nP -iTCP)"
  } > "$OUT/$n.mem"
  python3 - "$OUT/$n.json" "$OUT/$n.mem" <<'PY'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
mem = dict(line.rstrip("\n").split("\t") for line in open(sys.argv[2]))
ours = results["portscope list --tcp --json"]
print(f"{'command':36} {'median':>10} {'mean±sd':>18} {'portscope/this':>15} {'peak RSS':>10}")
for name, r in results.items():
    ratio = ours["median"] / r["median"]
    print(f"{name:36} {r['median']*1000:8.1f}ms {r['mean']*1000:8.1f}±{r['stddev']*1000:5.1f}ms {ratio:14.2f}x {int(mem[name])/1024:8.1f}MB")
ss_p, ss = results["ss -tanp"]["median"], results["ss -tan"]["median"]
print(f"targets: portscope/ss -tanp = {ours['median']/ss_p:.2f} (<= 0.33), "
      f"portscope/ss -tan = {ours['median']/ss:.2f} (<= 1.2 at 20,000 sockets), "
      f"memory portscope/ss -tanp = {int(mem['portscope list --tcp --json'])/int(mem['ss -tanp']):.2f} (<= 1.5)")
# The table renders the same inspection as the JSON (one snapshot, the audit once): it may cost
# no more than the JSON does.
print(f"target: table/--json = {results['portscope list --tcp']['median']/ours['median']:.2f} (<= 1.10)")
PY
}

# wait_closed: lets the closed connections' TIME-WAIT sockets expire before the next round.
wait_closed() {
  for _ in $(seq 1 90); do [ "$(ip netns exec "$NS" ss -Htan | wc -l)" -eq 0 ] && break; sleep 1; done
}

# The first privileged run loads the owners iterator and pins it; the warm-up runs do that.
for n in $COUNTS; do
  start_workers "$n"
  # Count with both tools at the same moment: portscope lists every socket ss lists.
  sockets=$(ip netns exec "$NS" ss -Htan | wc -l)
  listed=$(ip netns exec "$NS" "$BIN" --netns current list --tcp --json-lines | wc -l)
  echo "== $n connections held by $WORKERS processes in $NS: ss -tan lists $sockets TCP sockets, portscope $listed"
  measure "$n"
  stop_workers
  wait_closed
done

if [ "$ONE_PROCESS" -gt 0 ]; then
  start_workers "$ONE_PROCESS" 1
  sockets=$(ip netns exec "$NS" ss -Htan | wc -l)
  echo "== $ONE_PROCESS connections held by one process in $NS: ss -tan lists $sockets TCP sockets"
  measure "one-$ONE_PROCESS"
  stop_workers
  wait_closed
fi
