#!/usr/bin/env bash
# Peak memory of a scan of a whole /8 with one port where nothing answers: the case where a
# scanner that keeps per-host state grows with the network (2^24 hosts). Compares portscope with
# nmap -sT on a /16 of the same network (nmap on a /8 takes hours), and prints peak RSS from
# /usr/bin/time -v.
#
# Needs root. Everything runs inside a fresh network namespace whose only route to 198.0.0.0/8
# points at one end of a veth pair that stays inside it, and an nftables rule drops every packet to that network at the
# output hook: no SYN is ever built past the namespace's firewall, nothing leaves it. Each run is
# bounded by `timeout`.
#
#   bench/scan-memory.sh              # PREFIX=8 by default
#   PREFIX=12 bench/scan-memory.sh    # a /12 for a quick run
. "$(dirname "$0")/lib.sh"

PREFIX=${PREFIX:-8}
LIMIT=${LIMIT:-900}
NS="ps-scanmem-$$"

bench_need_root "bench/scan-memory.sh needs root (a network namespace)"
bench_require "" ip nft /usr/bin/time

bench_build --bin portscope
PORTSCOPE=$BIN

bench_netns "$NS"
# A veth pair whose both ends stay in the namespace: a route for the network, and nothing behind it.
ip -n "$NS" link add d0 type veth peer name d1
ip -n "$NS" link set d0 up
ip -n "$NS" link set d1 up
ip -n "$NS" route add 198.0.0.0/8 dev d0
ip netns exec "$NS" nft -f - <<'NFT'
table inet scanmem {
  chain out {
    type filter hook output priority 0; policy accept;
    ip daddr 198.0.0.0/8 drop
  }
}
NFT

peak() { # prints "peak_kib seconds exit" of a command run under /usr/bin/time -v
  local log; log=$(mktemp)
  local code=0
  ip netns exec "$NS" timeout "$LIMIT" /usr/bin/time -v "$@" >/dev/null 2>"$log" || code=$?
  local kib secs
  kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log")
  rm -f "$log"
  echo "$kib $secs $code"
}

target="198.18.0.0/$PREFIX"
echo "== portscope scan $target -p 9 --max-retries 0 --max-rtt-timeout 20ms (nothing answers)"
read -r kib secs code < <(peak "$PORTSCOPE" scan "$target" -p 9 --force --max-retries 0 \
  --min-rtt-timeout 10ms --max-rtt-timeout 20ms)
echo "portscope: peak RSS $((kib / 1024)) MiB, wall $secs, exit $code"
if command -v nmap >/dev/null; then
  echo "== nmap -sT -Pn -n -p 9 --max-retries 0 --max-rtt-timeout 20ms 198.18.0.0/16 (a /16: nmap on a /8 takes hours)"
  read -r nkib nsecs ncode < <(peak nmap -sT -Pn -n -p 9 --max-retries 0 --max-rtt-timeout 20ms \
    --min-parallelism 4096 198.18.0.0/16)
  echo "nmap /16: peak RSS $((nkib / 1024)) MiB, wall $nsecs, exit $ncode"
  echo "ratio (portscope on 2^$((32 - PREFIX)) hosts / nmap on 2^16 hosts, memory): $(awk -v a="$kib" -v b="$nkib" 'BEGIN { printf "%.2f", a / b }')"
fi
