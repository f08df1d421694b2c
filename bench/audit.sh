#!/usr/bin/env bash
# How long `portscope audit` takes, against what an administrator would run otherwise:
#   1. the passive audit vs `ss -tulpna` (the listing one would read by hand) and `ss -0pb` (the
#      packet sockets with their holders and BPF filters, which audit now also judges), on this
#      host and inside a network namespace with 250 listeners and a filtered packet socket;
#   2. `audit --deep` (bind probe, hidden-process probe over every pid, eBPF listing, taint) vs
#      `unhide-tcp` (the hidden-port check it mirrors), inside that namespace, so that the bind
#      probe touches no port of the host.
# Needs root (namespaces, every owner). Installs unhide from apt if it is missing.
. "$(dirname "$0")/lib.sh"
bench_need_root "bench/audit.sh needs root" 3
command -v hyperfine >/dev/null || { apt-get install -y -qq hyperfine >/dev/null; }
command -v unhide-tcp >/dev/null || { apt-get install -y -qq unhide >/dev/null; }

bench_build
NS=ps-bench-audit-$$
bench_tmpdir OUT
bench_netns "$NS"

# 200 TCP and 50 UDP listeners inside the namespace, so the tables are not empty.
ip netns exec "$NS" python3 -c '
import socket, time
keep = []
for i in range(200):
    s = socket.socket(); s.bind(("127.0.0.1", 20000 + i)); s.listen(); keep.append(s)
for i in range(50):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 21000 + i)); keep.append(u)
# A packet socket with a classic BPF filter (IPv4 ICMP), as a capture tool holds one.
import ctypes, struct
p = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
prog = [(0x28,0,0,12),(0x15,0,3,0x800),(0x30,0,0,23),(0x15,0,1,1),(0x06,0,0,65535),(0x06,0,0,0)]
code = ctypes.create_string_buffer(b"".join(struct.pack("=HBBI", *i) for i in prog))
p.setsockopt(socket.SOL_SOCKET, 26, struct.pack("HL", len(prog), ctypes.addressof(code)))
keep.append(p)
time.sleep(600)
' &
bench_kill_on_exit $!
sleep 1

echo "== passive audit on this host ($(ss -tuna | tail -n +2 | wc -l) sockets) vs ss -tulpna, ss -0pb"
hyperfine -N -i --warmup 3 --runs 20 --export-json "$OUT/host.json" \
  "$BIN audit --color never" "ss -tulpna" "ss -0pb" >/dev/null
echo "== passive audit vs ss -tulpna, ss -0pb, inside $NS (250 listeners, 1 filtered packet socket)"
hyperfine -N -i --warmup 3 --runs 20 --export-json "$OUT/passive.json" \
  "ip netns exec $NS $BIN audit --color never" "ip netns exec $NS ss -tulpna" \
  "ip netns exec $NS ss -0pb" >/dev/null
echo "== audit --deep vs unhide-tcp, inside $NS (250 listeners)"
hyperfine -N -i --warmup 1 --runs 5 --export-json "$OUT/deep.json" \
  "ip netns exec $NS $BIN audit --deep --color never" "ip netns exec $NS unhide-tcp" >/dev/null

bench_ratios "$OUT/host.json" "$OUT/passive.json" "$OUT/deep.json"
