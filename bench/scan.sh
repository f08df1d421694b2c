#!/usr/bin/env bash
# Full 1-65535 TCP scan of a namespace target with 20 random listeners: portscope -sS and -sT vs
# nmap -sS, nmap -sT, RustScan and masscan, timed side by side with hyperfine; then the same
# against a target that drops 10% of packets at random and rate-limits its RSTs; then a target
# whose every port is redirected to one listener (all-open); then a UDP scan of the top 100 ports
# against DNS, NTP and SNMP responders, two silent UDP listeners and closed ports, next to
# nmap -sU. Prints medians, ratios to nmap -sS (UDP: to nmap -sU) and open ports found vs
# expected.
#
# Needs root (network namespaces, raw sockets for -sS). Everything it creates — two namespaces
# joined by a veth pair (198.18.0.1 scanner, 198.18.0.2 target), the listener process — is
# removed on exit, failure included. No packet leaves those namespaces.
#
#   bench/scan.sh                 # RUNS=10 by default; the lossy scenario runs each tool once
#   RUNS=5 LOSSY_RUNS=3 bench/scan.sh   # also time the lossy scenario with hyperfine
#   SKIP_RUSTSCAN=1 bench/scan.sh       # do not build RustScan when it is not installed
#   SKIP_UDP=1 bench/scan.sh            # skip the UDP scenario (minutes: the target rate-limits ICMP)
#   MASSCAN_RATE=20000 bench/scan.sh    # masscan's --rate (when masscan is installed)
. "$(dirname "$0")/lib.sh"

RUNS=${RUNS:-10}
LOSSY_RUNS=${LOSSY_RUNS:-0}
RST_RATE=${RST_RATE:-10000}
LOSSY_TIMEOUT=${LOSSY_TIMEOUT:-120}
TAG="ps-scanbench-$$"
SCANNER="$TAG-s"
TARGET="$TAG-t"
TARGET_IP=198.18.0.2
bench_tmpdir WORK

bench_need_root "bench/scan.sh needs root (namespaces, nmap -sS)"
bench_require "" hyperfine nmap python3 nft ip

echo "== building portscope (release)"
bench_build --bin portscope
PORTSCOPE=$BIN

RUSTSCAN=$(command -v rustscan || true)
[ -z "$RUSTSCAN" ] && [ -x "$HOME/.cargo/bin/rustscan" ] && RUSTSCAN=$HOME/.cargo/bin/rustscan
if [ -z "$RUSTSCAN" ] && [ -z "${SKIP_RUSTSCAN:-}" ]; then
  echo "== installing rustscan (cargo install rustscan --locked)"
  if cargo install rustscan --locked --quiet; then
    RUSTSCAN=$HOME/.cargo/bin/rustscan
  else
    echo "rustscan could not be installed; continuing without it"
  fi
fi

echo "== namespaces $SCANNER -> $TARGET"
bench_netns "$SCANNER"
bench_netns "$TARGET"
bench_veth "$SCANNER" 198.18.0.1/24 "$TARGET" "$TARGET_IP/24"

# 20 distinct random ports; the listener accepts and closes every connection so no scan fills a
# backlog and changes what the next one sees.
mapfile -t PORTS < <(shuf -i 1-65535 -n 20 | sort -n)
EXPECTED=$(IFS=,; echo "${PORTS[*]}")
cat >"$WORK/listen.py" <<'EOF'
import selectors, socket, sys, time
sel = selectors.DefaultSelector()
for port in sys.argv[2:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[1], int(port)))
    s.listen(4096)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
print("ready", flush=True)
end = time.time() + 3600
while time.time() < end:
    for key, _ in sel.select(1):
        try:
            conn, _ = key.fileobj.accept()
            conn.close()
        except OSError:
            pass
EOF
ip netns exec "$TARGET" python3 "$WORK/listen.py" "$TARGET_IP" "${PORTS[@]}" >"$WORK/listen.out" &
bench_kill_on_exit $!
bench_wait_for "$WORK/listen.out" ready 50 || { echo "listener did not start" >&2; exit 1; }
echo "expected open: $EXPECTED"

IN="ip netns exec $SCANNER"
declare -A CMD
CMD[portscope-sS]="$IN $PORTSCOPE scan $TARGET_IP -p- -sS --json"
CMD[portscope-sT]="$IN $PORTSCOPE scan $TARGET_IP -p- -sT --json"
CMD[nmap-sS]="$IN nmap -sS -p- -n -Pn $TARGET_IP -oG -"
CMD[nmap-sT]="$IN nmap -sT -p- -n -Pn $TARGET_IP -oG -"
NAMES=(portscope-sS portscope-sT nmap-sS nmap-sT)
# masscan sends from libpcap on the veth to a MAC address it is told, and prints each open port
# as it finds it. On a veth it never exits after its --wait (its receive thread blocks on a quiet
# interface), so hyperfine cannot time it: it runs once, is stopped after MASSCAN_TIMEOUT
# seconds, and its ports are counted.
MASSCAN=$(command -v masscan || true)
MASSCAN_RATE=${MASSCAN_RATE:-20000}
MASSCAN_TIMEOUT=${MASSCAN_TIMEOUT:-20}
if [ -n "$RUSTSCAN" ]; then
  CMD[rustscan]="$IN $RUSTSCAN -a $TARGET_IP -r 1-65535 -g --ulimit 10000"
  NAMES+=(rustscan)
fi

# Open ports a tool reports, comma-separated and sorted, from one run's output.
found_ports() {
  local name=$1 out=$2
  case $name in
    portscope*) python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
print(",".join(str(p["port"]) for h in d["hosts"] for p in h["ports"] if p["state"]=="open"))' "$out" ;;
    nmap-*) { grep -o '[0-9]*/open/' "$out" || true; } | cut -d/ -f1 | sort -n | paste -sd, ;;
    masscan) { grep -o 'open port [0-9]*/tcp' "$out" || true; } | grep -o '[0-9]*' | sort -n | paste -sd, ;;
    rustscan) { grep -o '\[.*\]' "$out" || true; } | tr -d '[] ' | tr , '\n' | sort -n | paste -sd, ;;
  esac
}

# One untimed run per tool: what it found against what is listening.
check_found() {
  local label=$1
  for name in "${NAMES[@]}"; do
    local out="$WORK/$label-$name.out" start end found n_ok n_extra
    start=$(date +%s.%N)
    timeout -k 5 "$LOSSY_TIMEOUT" bash -c "${CMD[$name]}" >"$out" 2>"$out.err" || echo "  ($name exited $?; 124 = still running after ${LOSSY_TIMEOUT}s, stopped)"
    end=$(date +%s.%N)
    # A tool stopped early may have printed no open port at all: not an error here.
    found=$(found_ports "$name" "$out" || true)
    n_ok=$(comm -12 <(tr , '\n' <<<"$EXPECTED" | sort) <(tr , '\n' <<<"$found" | sort) | grep -c . || true)
    n_extra=$(comm -13 <(tr , '\n' <<<"$EXPECTED" | sort) <(tr , '\n' <<<"$found" | sort) | grep -c . || true)
    printf '  %-12s found %2d/%d expected, %d not listening   (%.2f s)\n' \
      "$name" "$n_ok" "${#PORTS[@]}" "$n_extra" "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')"
  done
}

# masscan, once, stopped after MASSCAN_TIMEOUT seconds: what it found by then.
check_masscan() {
  [ -n "$MASSCAN" ] || { echo "  masscan      not installed (apt-get install masscan)"; return; }
  local mac out=$WORK/masscan-$1.out found n_ok n_extra
  mac=$(ip -n "$TARGET" -j link show veth0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
  timeout -k 2 "$MASSCAN_TIMEOUT" ip netns exec "$SCANNER" "$MASSCAN" "$TARGET_IP" -p1-65535 \
    --rate "$MASSCAN_RATE" -e veth0 --router-mac "$mac" --source-ip 198.18.0.1 --source-port 61000 \
    --wait 1 >"$out" 2>/dev/null || true
  found=$(found_ports masscan "$out" || true)
  n_ok=$(comm -12 <(tr , '\n' <<<"$EXPECTED" | sort) <(tr , '\n' <<<"$found" | sort) | grep -c . || true)
  n_extra=$(comm -13 <(tr , '\n' <<<"$EXPECTED" | sort) <(tr , '\n' <<<"$found" | sort) | grep -c . || true)
  printf '  %-12s found %2d/%d expected, %d not listening   (--rate %s; stopped after %s s: it does not exit on a veth)\n' \
    masscan "$n_ok" "${#PORTS[@]}" "$n_extra" "$MASSCAN_RATE" "$MASSCAN_TIMEOUT"
}

# hyperfine medians and the ratio of each to nmap -sS.
timed() {
  local label=$1 runs=$2
  local args=()
  for name in "${NAMES[@]}"; do args+=(-n "$name" "${CMD[$name]}"); done
  hyperfine --style basic --warmup 1 --runs "$runs" --export-json "$WORK/$label.json" "${args[@]}" >/dev/null
  python3 - "$WORK/$label.json" <<'EOF'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
med = {r["command"]: r["median"] for r in results}
base = med.get("nmap-sS")
print(f"  {'tool':<12} {'median':>9} {'min':>8} {'max':>8} {'vs nmap -sS':>12}")
for r in results:
    ratio = f"{r['median'] / base:.2f}x" if base else "-"
    print(f"  {r['command']:<12} {r['median']:>8.3f}s {r['min']:>7.3f}s {r['max']:>7.3f}s {ratio:>12}")
EOF
}

echo
echo "== scenario 1: clean link, full 1-65535 scan ($RUNS runs each)"
timed clean "$RUNS"
echo "ports found:"
check_found clean
check_masscan clean

echo
echo "== scenario 2: target drops 10% of packets at random, RSTs limited to $RST_RATE/s"
ip netns exec "$TARGET" nft -f - <<EOF
table inet scanbench {
  chain input {
    type filter hook input priority 0;
    meta l4proto tcp numgen random mod 10 == 0 drop
  }
  chain output {
    type filter hook output priority 0;
    meta l4proto tcp numgen random mod 10 == 0 drop
    tcp flags & rst == rst limit rate over $RST_RATE/second burst 200 packets drop
  }
}
EOF
NAMES=(${NAMES[@]})
echo "ports found (one run each, at most ${LOSSY_TIMEOUT}s):"
check_found lossy
if [ "$LOSSY_RUNS" -gt 0 ]; then
  timed lossy "$LOSSY_RUNS"
fi
ip netns exec "$TARGET" nft delete table inet scanbench

echo
echo "== scenario 3: all-open: every TCP port of the target redirected to port ${PORTS[0]}"
ip netns exec "$TARGET" nft -f - <<EOF
table ip scanbench_nat {
  chain pre {
    type nat hook prerouting priority -100;
    tcp dport 1-65535 redirect to :${PORTS[0]}
  }
}
EOF
start=$(date +%s.%N)
$IN "$PORTSCOPE" scan "$TARGET_IP" -p- -sS >"$WORK/allopen.out" 2>&1 || true
end=$(date +%s.%N)
sed 's/^/  /' "$WORK/allopen.out" | head -8
printf '  (portscope -sS, %.2f s)\n' "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')"
ip netns exec "$TARGET" nft delete table ip scanbench_nat

if [ -z "${SKIP_UDP:-}" ]; then
  echo
  echo "== scenario 4: UDP top 100: DNS, NTP and SNMP responders, 2 silent listeners (69, 500), the rest closed"
  echo "   (the target keeps Linux's default ICMP rate limit: about one port unreachable per second)"
  cat >"$WORK/udp.py" <<'EOF'
import selectors, socket, sys, time
def reply(port, data):
    if port == 53: return data[:2] + b"\x81\x80" + data[4:6] + b"\x00" * 6 + data[12:]
    if port == 123: return b"\x24\x02\x06\xe9" + b"\x00" * 44
    if port == 161: return b"\x30\x0c\x02\x01\x01\x04\x06public\xa2\x00"
sel = selectors.DefaultSelector()
for port in (53, 123, 161, 69, 500):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((sys.argv[1], port)); s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, port)
print("ready", flush=True)
end = time.time() + 3600
while time.time() < end:
    for key, _ in sel.select(1):
        try:
            data, peer = key.fileobj.recvfrom(2048)
        except OSError:
            continue
        r = reply(key.data, data)
        if r: key.fileobj.sendto(r, peer)
EOF
  ip netns exec "$TARGET" python3 "$WORK/udp.py" "$TARGET_IP" >"$WORK/udp.ready" &
  UDP_PID=$!
  bench_wait_for "$WORK/udp.ready" ready 50 || true
  udp_row() {
    local name=$1 cmd=$2 out=$WORK/udp-$1.out start end open
    start=$(date +%s.%N)
    timeout -k 5 600 bash -c "$cmd" >"$out" 2>/dev/null || true
    end=$(date +%s.%N)
    case $name in
      portscope*) open=$(python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
print(",".join(str(p["port"]) for h in d["hosts"] for p in h["ports"] if p["state"]=="open"))' "$out" || true) ;;
      nmap*) open=$({ grep -o '[0-9]*/open/udp' "$out" || true; } | cut -d/ -f1 | sort -n | paste -sd,) ;;
    esac
    awk -v a="$start" -v b="$end" 'BEGIN { print b - a }' >"$out.time"
    printf '  %-14s %7.1f s   open: %s\n' "$name" "$(cat "$out.time")" "$open"
  }
  udp_row portscope-sU "$IN $PORTSCOPE scan $TARGET_IP -sU --top-ports 100 --json"
  udp_row nmap-sU "$IN nmap -sU --top-ports 100 -n -Pn $TARGET_IP -oG -"
  awk -v a="$(cat "$WORK/udp-portscope-sU.out.time")" -v b="$(cat "$WORK/udp-nmap-sU.out.time")" \
    'BEGIN { printf "  portscope -sU / nmap -sU: %.2fx\n", a / b }'
  kill "$UDP_PID" 2>/dev/null || true
  wait "$UDP_PID" 2>/dev/null || true
fi
