# What the bench scripts share; each one sources it first:
#
#   . "$(dirname "$0")/lib.sh"
#
# It moves to the repository's root and offers: checks for root and tools, the release build,
# network namespaces (and veth pairs) removed by name on exit, background processes and temporary
# directories cleaned up on exit, the socket openers the scripts run inside their namespaces, a
# wait for a "ready" line, CPU ticks from /proc, and hyperfine's JSON turned into medians and
# ratios. Nothing here sends a packet: every tool a script times runs inside its own namespaces.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# --- checks -------------------------------------------------------------------------------------

# bench_need_root MESSAGE [CODE]: exit CODE (default 1) with MESSAGE unless running as root.
bench_need_root() {
  [ "$(id -u)" = 0 ] || { echo "$1" >&2; exit "${2:-1}"; }
}

# bench_require MESSAGE TOOL...: exit 1 with "missing TOOL" (and MESSAGE, when not empty) for the
# first tool that is not installed.
bench_require() {
  local hint=$1 tool
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "missing $tool${hint:+ ($hint)}" >&2; exit 1; }
  done
}

# bench_need TOOL PACKAGE: installs PACKAGE with apt-get when TOOL is missing.
bench_need() {
  command -v "$1" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }
}

# --- the binary ---------------------------------------------------------------------------------

# bench_build [CARGO ARGS…]: the release build, quiet; sets BIN to the binary's absolute path
# (under $CARGO_TARGET_DIR when it is set, as cargo builds it there).
bench_build() {
  cargo build --release --quiet "$@"
  BIN=$(cd "${CARGO_TARGET_DIR:-target}/release" && pwd)/portscope
}

# --- clean-up -----------------------------------------------------------------------------------

# Everything registered below is undone on exit, failure and Ctrl-C included, newest first.
_bench_cleanup=()
_bench_pids=()

# bench_on_exit COMMAND: runs COMMAND (a string, evaluated) on exit.
bench_on_exit() {
  _bench_cleanup+=("$1")
}

# bench_kill_on_exit PID: kills PID (and waits for it) on exit.
bench_kill_on_exit() {
  _bench_pids+=("$1")
}

_bench_exit() {
  set +e
  local pid i
  for pid in "${_bench_pids[@]}"; do kill "$pid" 2>/dev/null; done
  [ ${#_bench_pids[@]} -eq 0 ] || wait "${_bench_pids[@]}" 2>/dev/null
  for ((i = ${#_bench_cleanup[@]} - 1; i >= 0; i--)); do eval "${_bench_cleanup[i]}" 2>/dev/null; done
  return 0
}
trap _bench_exit EXIT
trap 'exit 130' INT TERM

# bench_tmpdir VAR: sets VAR to a new temporary directory, removed on exit.
bench_tmpdir() {
  local dir
  dir=$(mktemp -d)
  bench_on_exit "rm -rf '$dir'"
  printf -v "$1" '%s' "$dir"
}

# bench_netns NAME: a network namespace with its loopback up, deleted by name on exit (its
# processes are killed first, as `ip netns pids` lists them).
bench_netns() {
  ip netns add "$1"
  bench_on_exit "ip netns pids '$1' | xargs -r kill -9; ip netns del '$1'"
  ip -n "$1" link set lo up
}

# bench_veth NS_A ADDR_A NS_B ADDR_B: joins two namespaces with a veth pair (veth0 in each), with
# the given CIDR addresses; the pair goes away with the namespaces.
bench_veth() {
  ip link add veth0 netns "$1" type veth peer name veth0 netns "$3"
  ip -n "$1" addr add "$2" dev veth0
  ip -n "$3" addr add "$4" dev veth0
  ip -n "$1" link set veth0 up
  ip -n "$3" link set veth0 up
}

# --- openers and listeners ----------------------------------------------------------------------

# bench_opener_script FILE: writes the opener of ~1,000 sockets (300 TCP listeners on
# 127.0.0.1:20000+, 200 UDP sockets on [::1]:30000+, 250 established loopback connections), run
# as `python3 FILE SECONDS [CHURN_FILE]` inside a namespace. It prints how many sockets it holds,
# then lives SECONDS; while CHURN_FILE exists, one extra listener (127.0.0.1:29999) opens and
# closes every 10 s.
bench_opener_script() {
  cat >"$1" <<'PY'
import os, resource, socket, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
socks = []
for i in range(300):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 20000 + i)); s.listen(64); socks.append(s)
for i in range(200):
    u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u.bind(("::1", 30000 + i)); socks.append(u)
server = socks[0]
for i in range(250):
    c = socket.create_connection(("127.0.0.1", 20000)); a, _ = server.accept(); socks += [c, a]
print(len(socks), flush=True)
deadline = time.time() + float(sys.argv[1])
churn = sys.argv[2] if len(sys.argv) > 2 else None
if churn is None:
    time.sleep(max(0.0, deadline - time.time()))
while time.time() < deadline:
    time.sleep(5)
    if not os.path.exists(churn):
        continue
    extra = socket.socket(); extra.bind(("127.0.0.1", 29999)); extra.listen(1)
    time.sleep(5)
    extra.close()
PY
}

# bench_worker_script FILE: writes the connection worker, run as `python3 FILE PORT COUNT`: a
# listener on 127.0.0.1:PORT and COUNT connections to it, both ends held; prints "ready", then
# holds them for an hour. It runs from a file so that its command line is as short as a real
# server's.
bench_worker_script() {
  cat >"$1" <<'PY'
import socket, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port))
listener.listen(4096)
held = []
for _ in range(count):
    client = socket.create_connection(("127.0.0.1", port))
    server, _ = listener.accept()
    held += [client, server]
print("ready", flush=True)
time.sleep(3600)
PY
}

# bench_wait_for FILE PATTERN TRIES: waits up to TRIES × 0.1 s for PATTERN in FILE; false if it
# never came.
bench_wait_for() {
  local _
  for _ in $(seq 1 "$3"); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  grep -q "$2" "$1" 2>/dev/null
}

# bench_wait_nonempty FILE TRIES: waits up to TRIES × 0.1 s until FILE has content.
bench_wait_nonempty() {
  local _
  for _ in $(seq 1 "$2"); do [ -s "$1" ] && return 0; sleep 0.1; done
  [ -s "$1" ]
}

# --- measuring ----------------------------------------------------------------------------------

# bench_cpu_ticks PID: user + system CPU ticks of PID so far (/proc/PID/stat).
bench_cpu_ticks() {
  awk '{print $14 + $15}' "/proc/$1/stat"
}

# bench_median JSON: the median of the first result in a hyperfine --export-json file.
bench_median() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["median"])' "$1"
}

# bench_ratios JSON…: for each hyperfine --export-json file, the first command (portscope) and
# every other one with its mean, and the ratio portscope / other (an `ip netns exec NS` prefix is
# left out of the ratio's label).
bench_ratios() {
  python3 - "$@" <<'PY'
import json, re, sys
for path in sys.argv[1:]:
    ours, *others = json.load(open(path))["results"]
    print(f"{ours['command']:<70} {ours['mean']*1000:9.1f} ms ± {ours['stddev']*1000:.1f}")
    for theirs in others:
        print(f"{theirs['command']:<70} {theirs['mean']*1000:9.1f} ms ± {theirs['stddev']*1000:.1f}")
        label = "  ratio portscope / " + re.sub(r"^ip netns exec [^ ]+ ", "", theirs["command"])
        print(f"{label:<70} {ours['mean']/theirs['mean']:9.2f}x")
PY
}
