#!/bin/bash
# The scene of issue 14, for trying portscope as a newcomer would: two network namespaces on a
# veth pair (198.18.14.1 and .2), and in the first one
#   - a web server on port 80;
#   - a Python listener on 31337 with a peer connected;
#   - a copy of python3 called `nginx`, run from a hidden directory in /tmp, on [::]:443;
#   - 40 client connections from one program to 198.18.14.2:9000;
#   - a "reverse shell": `sh` whose standard input and output are a connection to port 4444.
# Then it runs the first five minutes' commands inside that namespace and cleans everything up.
# No packet leaves the two namespaces. Run as root: sudo examples/first-five-minutes.sh [PORTSCOPE]
set -euo pipefail
PORTSCOPE=${1:-portscope}
PORTSCOPE=$(command -v "$PORTSCOPE" || readlink -f "$PORTSCOPE")
PY=$(readlink -f /usr/bin/python3)
TAG=ps14-$$
A=$TAG-a
B=$TAG-b
DIR=$(mktemp -d /tmp/ps14.XXXXXX)
PIDS=()
# Everything the scene starts runs inside $A or $B, so the namespaces are the inventory: every
# process still in one (a shell's `sleep` child, a server `ip netns exec` started) is killed
# before the namespace is deleted. Deleting the name alone would leave them running in an
# anonymous namespace. Runs on every way out: the end, an error (set -e), Ctrl-C, kill, hangup.
cleanup() {
    trap - EXIT INT TERM HUP
    set +e
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        left=$(for ns in "$A" "$B"; do ip netns pids "$ns" 2>/dev/null; done)
        [ -z "$left" ] && break
        kill -KILL $left 2>/dev/null
        sleep 0.2
    done
    wait 2>/dev/null
    ip netns del "$A" 2>/dev/null
    ip netns del "$B" 2>/dev/null
    rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
ip netns add "$A"
ip netns add "$B"
ip link add veth0 netns "$A" type veth peer name veth0 netns "$B"
ip -n "$A" addr add 198.18.14.1/24 dev veth0
ip -n "$B" addr add 198.18.14.2/24 dev veth0
for ns in "$A" "$B"; do ip -n "$ns" link set veth0 up; ip -n "$ns" link set lo up; done
in_a() { ip netns exec "$A" "$@"; }
in_b() { ip netns exec "$B" "$@"; }
bg() { "$@" >/dev/null 2>&1 & PIDS+=($!); }
ready() { sleep 0.5; }

# B: the far side (a service on 9000, a listener on 4444, a client of 31337).
bg in_b /usr/bin/python3 -c "
import socket,time
ls=[]
for p in (9000,4444):
    s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('198.18.14.2',p));s.listen(64);ls.append(s)
keep=[]
end=time.time()+300
import select
while time.time()<end:
    r,_,_=select.select(ls,[],[],1)
    for s in r: keep.append(s.accept()[0])
"
# A: the machine the user looks at.
# Like every process here, the web server has a time limit even if the cleanup never ran.
bg in_a timeout 300 /usr/bin/python3 -m http.server 80 --bind 0.0.0.0
bg in_a /usr/bin/python3 -c "
import socket,time
s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('0.0.0.0',31337));s.listen(4)
c,_=s.accept();time.sleep(300)"
mkdir -p "$DIR/.cache" "$DIR/opt"
cp "$PY" "$DIR/.cache/nginx"
cp "$PY" "$DIR/opt/backup-sync-agent"
bg in_a "$DIR/.cache/nginx" -c "
import socket,time
s=socket.socket(socket.AF_INET6);s.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_V6ONLY,0);s.bind(('::',443));s.listen(4);time.sleep(300)"
ready
bg in_b /usr/bin/python3 -c "
import socket,time
c=socket.create_connection(('198.18.14.1',31337));time.sleep(300)"
bg in_a "$DIR/opt/backup-sync-agent" -c "
import socket,time
cs=[socket.create_connection(('198.18.14.2',9000)) for _ in range(40)];time.sleep(300)"
bg in_a /usr/bin/python3 -c "
import socket,os
s=socket.create_connection(('198.18.14.2',4444))
os.dup2(s.fileno(),0);os.dup2(s.fileno(),1)
os.execv('/bin/sh',['sh','-c','sleep 300; :'])"
ready
ready

run() { echo "\$ sudo portscope $*"; in_a env COLUMNS="${COLUMNS:-100}" NO_COLOR=1 "$PORTSCOPE" --netns current "$@" || true; echo; }
run list
run audit
run explain 4444
SH=$(in_a "$PORTSCOPE" --netns current list --json -p 4444 | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["holders"][0]["pid"])')
run close --pid "$SH" --dry-run
run close --pid "$SH" --yes
run list
