#!/usr/bin/env bash
# Times one host-wide `portscope list --tcp` against `ss -tanp` run in every namespace, and the
# fd walk of a single process holding thousands of sockets.
#
# Part 1: NSCOUNT namespaces (ps-bench-ns-PID-I) this script creates hold TOTAL loopback TCP
# connections between them (both ends held by one worker per namespace). portscope runs once on
# the host and lists every namespace; ss must run once in each, so its figure is the sum of its
# medians, each measured by hyperfine inside the namespace (no `ip netns exec` overhead counted).
# The machine's other namespaces are listed by portscope too, so the script prints how many
# sockets each side saw.
#
# Part 2: one process holding SINGLE sockets (SINGLE/2 connections, both ends) in a namespace of
# its own; portscope (--netns current) against ss -tanp there. Before the fd walk split one
# process's descriptors over threads, this case ran on one core.
#
#   bench/netns.sh                         # NSCOUNT=5 TOTAL=10000 SINGLE=10000
#   NSCOUNT=3 TOTAL=3000 RUNS=5 bench/netns.sh
. "$(dirname "$0")/lib.sh"

NSCOUNT=${NSCOUNT:-5}
TOTAL=${TOTAL:-10000}
SINGLE=${SINGLE:-10000}
RUNS=${RUNS:-10}
PREFIX="ps-bench-ns-$$"

bench_need hyperfine hyperfine
bench_need ss iproute2
bench_need_root "bench/netns.sh: needs root (network namespaces)" 3
bench_build
bench_tmpdir OUT

pids=()
bench_on_exit 'for pid in "${pids[@]}"; do kill "$pid"; done; wait'

bench_worker_script "$OUT/worker.py"

# new_ns NAME CONNECTIONS: a namespace with one worker holding both ends of CONNECTIONS connections.
new_ns() {
  local ns=$1 count=$2
  bench_netns "$ns"
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65000"
  ip netns exec "$ns" bash -c "ulimit -n \$(ulimit -Hn); exec /usr/bin/python3 $OUT/worker.py 20000 $count" > "$OUT/$ns.out" &
  pids+=("$!")
}

wait_ready() {
  for ns in "$@"; do
    bench_wait_for "$OUT/$ns.out" ready 900 || { echo "worker in $ns did not start" >&2; exit 4; }
  done
}

echo "== part 1: $TOTAL connections over $NSCOUNT namespaces"
part1=()
for i in $(seq 1 "$NSCOUNT"); do
  new_ns "$PREFIX-$i" $(( TOTAL / NSCOUNT / 2 ))
  part1+=("$PREFIX-$i")
done
wait_ready "${part1[@]}"
ss_sockets=0
for ns in "${part1[@]}"; do
  ss_sockets=$(( ss_sockets + $(ip netns exec "$ns" ss -Htan | wc -l) ))
done
listed=$("$BIN" list --tcp --json-lines | wc -l)
echo "ss -tan in the $NSCOUNT namespaces lists $ss_sockets TCP sockets; portscope on the host lists $listed (every namespace on the machine)"
hyperfine -N --warmup 2 --runs "$RUNS" --style basic --export-json "$OUT/portscope.json" \
  -n "portscope list --tcp --json (host, every namespace)" "$BIN list --tcp --json" >/dev/null
sum=0
for ns in "${part1[@]}"; do
  ip netns exec "$ns" hyperfine -N --warmup 2 --runs "$RUNS" --style basic --export-json "$OUT/ss-$ns.json" \
    -n "ss -tanp in $ns" "ss -tanp" >/dev/null
  sum=$(python3 -c "print($sum + $(bench_median "$OUT/ss-$ns.json"))")
done
ours=$(bench_median "$OUT/portscope.json")
python3 - "$ours" "$sum" "$NSCOUNT" <<'PY'
import sys
ours, ss, n = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
print(f"portscope list --tcp --json, once:   {ours*1000:8.1f} ms (median)")
print(f"ss -tanp, once in each of {n}:        {ss*1000:8.1f} ms (sum of medians)")
print(f"target: portscope / sum of ss -tanp = {ours/ss:.2f} (<= 0.5)")
PY
for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()

echo "== part 2: one process holding $SINGLE sockets"
single="$PREFIX-single"
new_ns "$single" $(( SINGLE / 2 ))
wait_ready "$single"
ip netns exec "$single" hyperfine -N --warmup 2 --runs "$RUNS" --style basic --export-json "$OUT/single.json" \
  -n "portscope list --tcp --json" "$BIN --netns current list --tcp --json" \
  -n "ss -tanp" "ss -tanp" >/dev/null
python3 - "$OUT/single.json" <<'PY'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
ours, ss = results["portscope list --tcp --json"]["median"], results["ss -tanp"]["median"]
print(f"portscope list --tcp --json: {ours*1000:8.1f} ms; ss -tanp: {ss*1000:8.1f} ms (medians)")
print(f"portscope / ss -tanp = {ours/ss:.2f} (was 0.53 before the walk split one process's descriptors)")
PY
