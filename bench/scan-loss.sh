#!/usr/bin/env bash
# How often a scan over a lossy link misses a listener: RUNS connect scans of ports 1-4000 of a
# namespace target with 20 listeners, whose nftables rules drop LOSS % of the TCP packets in each
# direction at random; portscope -sT next to nmap -sT (the tool a user would otherwise pick).
# Prints, for each, the runs that missed a listener, the listeners missed, and the mean probes
# and seconds per scan. nmap takes half a minute a scan here, so it runs NMAP_RUNS times. A miss is a listener reported as anything but open; a closed port whose
# resets were all lost may end filtered, as with nmap, and is not counted.
#
# Needs root (network namespaces). Two namespaces joined by a veth pair (198.18.0.1 scanner,
# 198.18.0.2 target) and the listener process are removed on exit, failure included. No packet
# leaves those namespaces.
#
#   bench/scan-loss.sh                    # RUNS=100, NMAP_RUNS=3, LOSS=10
#   RUNS=300 LOSS=15 bench/scan-loss.sh
#   PORTSCOPE=/path/to/portscope bench/scan-loss.sh   # another build (skips the release build)
#   SKIP_NMAP=1 bench/scan-loss.sh
. "$(dirname "$0")/lib.sh"

RUNS=${RUNS:-100}
NMAP_RUNS=${NMAP_RUNS:-3}
LOSS=${LOSS:-10}
TAG="ps-lossbench-$$"
SCANNER="$TAG-s"
TARGET="$TAG-t"
TARGET_IP=198.18.0.2
bench_tmpdir WORK

bench_need_root "bench/scan-loss.sh needs root (network namespaces)"
bench_require "" python3 nft ip
[ -n "${SKIP_NMAP:-}" ] || bench_require "or SKIP_NMAP=1" nmap

if [ -z "${PORTSCOPE:-}" ]; then
  echo "== building portscope (release)"
  bench_build --bin portscope
  PORTSCOPE=$BIN
fi

bench_netns "$SCANNER"
bench_netns "$TARGET"
bench_veth "$SCANNER" 198.18.0.1/24 "$TARGET" "$TARGET_IP/24"

# 20 listeners at 1000, 1097, … 2843 that accept and close.
OPEN=$(seq 1000 97 2843 | paste -sd,)
cat >"$WORK/listen.py" <<'PY'
import selectors, socket, sys
sel = selectors.DefaultSelector()
for port in map(int, sys.argv[2].split(",")):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[1], port)); s.listen(1024); s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        try:
            key.fileobj.accept()[0].close()
        except OSError:
            pass
PY
ip netns exec "$TARGET" /usr/bin/python3 "$WORK/listen.py" "$TARGET_IP" "$OPEN" >"$WORK/listen.out" 2>&1 &
bench_kill_on_exit $!
bench_wait_for "$WORK/listen.out" ready 100 || { echo "the listeners did not start" >&2; exit 1; }

every=$((100 / LOSS))
ip netns exec "$TARGET" nft -f - <<EOF
table inet scanloss {
  chain input { type filter hook input priority 0; meta l4proto tcp numgen random mod 100 < $LOSS drop; }
  chain output { type filter hook output priority 0; meta l4proto tcp numgen random mod 100 < $LOSS drop; }
}
EOF
echo "== $RUNS scans of 1-4000 with $LOSS % loss each way (one TCP packet in $every dropped each way)"

# tally NAME: reads "missed probes seconds" lines (probes "-" when not known) and prints the
# summary row.
tally() {
  awk -v name="$1" '
    { missed += $1; runs_missed += ($1 > 0); probes += $2; secs += $3 }
    END { printf "%-10s runs missing a listener %4d of %-4d  listeners missed %4d   probes/scan %7s   s/scan %6.2f\n",
                 name, runs_missed, NR, missed, (probes > 0 ? sprintf("%.0f", probes / NR) : "-"), secs / NR }'
}

for _ in $(seq 1 "$RUNS"); do
  ip netns exec "$SCANNER" "$PORTSCOPE" scan --connect "$TARGET_IP" -p 1-4000 --json >"$WORK/ps.json"
  python3 - "$WORK/ps.json" "$OPEN" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
open_ports = {int(p) for p in sys.argv[2].split(",")}
found = {p["port"] for p in doc["hosts"][0]["ports"] if p["state"] == "open"}
if found - open_ports:
    sys.exit(f"portscope reported ports open that are not: {sorted(found - open_ports)}")
print(len(open_ports - found), doc["stats"]["probes"], doc["stats"]["elapsed"])
PY
done | tally portscope

if [ -z "${SKIP_NMAP:-}" ]; then
  for _ in $(seq 1 "$NMAP_RUNS"); do
    start=$(date +%s.%N)
    ip netns exec "$SCANNER" nmap -n -Pn -sT -p 1-4000 -oG "$WORK/nmap.gnmap" "$TARGET_IP" >/dev/null
    end=$(date +%s.%N)
    found=$(grep -o '[0-9]*/open/' "$WORK/nmap.gnmap" | cut -d/ -f1 | sort -n | paste -sd, || true)
    python3 - "$OPEN" "$found" "$start" "$end" <<'PY'
import sys
expected = {int(p) for p in sys.argv[1].split(",")}
found = {int(p) for p in sys.argv[2].split(",") if p}
# nmap does not report its probe count.
print(len(expected - found), "-", float(sys.argv[4]) - float(sys.argv[3]))
PY
  done | tally "nmap -sT"
fi
