#!/usr/bin/env bash
# How long `portscope close` takes to free a port, and to cut a connection, next to the tools a
# user would otherwise reach for (fuser -k, kill $(lsof -t …), ss -K). Everything runs inside a
# network namespace this script creates; only processes started in it are signalled.
#
# Usage: bench/close.sh [RUNS]   (root; builds the release binary first)
. "$(dirname "$0")/lib.sh"
runs=${1:-20}
bench_need_root "bench/close.sh needs root (network namespaces)"
bench_require "apt-get install hyperfine psmisc lsof iproute2" hyperfine python3 fuser lsof ss
bench_build
bin=$BIN
ns=ps-bench-close-$$
bench_netns "$ns"
in_ns() { echo "ip netns exec $ns $*"; }

listener='import socket,time
s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)
s.bind(("127.0.0.1",9000));s.listen(16);time.sleep(600)'
pair='import socket,time
l=socket.socket();l.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)
l.bind(("127.0.0.1",9001));l.listen(4)
c=socket.socket();c.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);c.bind(("127.0.0.1",40000));c.connect(("127.0.0.1",9001));a,_=l.accept();time.sleep(600)'
bench_on_exit "rm -f /tmp/$ns-*.py"
printf '%s' "$listener" >"/tmp/$ns-listener.py"
printf '%s' "$pair" >"/tmp/$ns-pair.py"

# Start a fresh program in the namespace and wait (bounded) until its port is open.
start() {
  echo "ip netns pids $ns | xargs -r kill -9; sleep 0.05; \
    ip netns exec $ns setsid -f python3 /tmp/$ns-$1.py >/dev/null 2>&1; \
    for i in \$(seq 100); do ip netns exec $ns ss -Htln 'sport = :$2' | grep -q . && break; sleep 0.02; done"
}

echo "== freeing a port held by a process that exits on SIGTERM ($runs runs)"
hyperfine --runs "$runs" --style basic --prepare "$(start listener 9000)" \
  -n "portscope close (verifies, no comeback watch)" "$(in_ns "$bin" close 9000 --tcp --yes --watch 0s)" \
  -n "portscope close (default 1s comeback watch)" "$(in_ns "$bin" close 9000 --tcp --yes)" \
  -n "fuser -k -TERM 9000/tcp (no verification)" "$(in_ns fuser -s -k -TERM 9000/tcp)" \
  -n "kill \$(lsof -t -i:9000) (no verification)" "$(in_ns sh -c "'kill \$(lsof -t -iTCP:9000 -sTCP:LISTEN)'")"

echo "== cutting one established connection ($runs runs)"
hyperfine --runs "$runs" --style basic --prepare "$(start pair 9001)" \
  -n "portscope close --connection" "$(in_ns "$bin" close --connection 127.0.0.1:40000 127.0.0.1:9001 --yes)" \
  -n "ss -K" "$(in_ns ss -K -tn 'src 127.0.0.1:40000 dst 127.0.0.1:9001')"
