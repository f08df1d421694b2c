#!/usr/bin/env bash
# Password guessing against `portscope exporter` with TLS and basic authentication: the CPU the
# exporter spends answering 16 connections that send wrong passwords for 10 s.
#
# Creates a network namespace of its own, a self-signed certificate, a web config whose user has
# a bcrypt hash of cost 10 (what `htpasswd -nBC 10` makes), and runs the exporter on
# 198.18.0.1:9750 there. 16 Python threads on 198.18.0.3 each open a new TLS connection per
# guess, with a new wrong password each time. Prints the answers they got (401: a bcrypt was
# run; 429: the source was throttled without one) and the exporter's CPU over the attack from
# /proc/PID/stat, as a share of one core.
#
# Usage: sudo bench/exporter-guessing.sh [SECONDS] [CONNECTIONS]   (default 10 s, 16; needs root
# for `ip netns`, and openssl). PORTSCOPE_BIN=path/to/portscope skips the release build (to
# compare two builds).
. "$(dirname "$0")/lib.sh"
DURATION=${1:-10}
CONNECTIONS=${2:-16}
bench_need_root "exporter-guessing.sh: needs root (ip netns)" 3
bench_require "apt-get install openssl" openssl
if [ -n "${PORTSCOPE_BIN:-}" ]; then BIN=$PORTSCOPE_BIN; else bench_build -p portscope; fi
NS=ps-23-guess-$$
bench_tmpdir TMP
bench_netns "$NS"
for a in 198.18.0.1 198.18.0.3; do ip -n "$NS" addr add "$a/32" dev lo; done

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj /CN=bench -addext subjectAltName=IP:198.18.0.1 \
  -keyout "$TMP/tls.key" -out "$TMP/tls.crt" 2>/dev/null
# Any cost-10 bcrypt hash will do: every guess is wrong.
cat >"$TMP/web.yml" <<'YML'
tls_server_config:
  cert_file: tls.crt
  key_file: tls.key
basic_auth_users:
  prometheus: '$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy'
YML

ip netns exec "$NS" "$BIN" exporter --listen 198.18.0.1:9750 --web-config "$TMP/web.yml" 2>"$TMP/exporter.log" &
EXPORTER_PID=$!
bench_kill_on_exit "$EXPORTER_PID"
bench_wait_for "$TMP/exporter.log" serving 300 || { cat "$TMP/exporter.log"; exit 4; }

HZ=$(getconf CLK_TCK)
before=$(awk '{print $14 + $15}' "/proc/$EXPORTER_PID/stat")
ip netns exec "$NS" /usr/bin/python3 - "$TMP/tls.crt" "$DURATION" "$CONNECTIONS" <<'PY'
import base64, collections, os, ssl, sys, threading, time, http.client
ctx = ssl.create_default_context(cafile=sys.argv[1])
end = time.time() + float(sys.argv[2])
answers = collections.Counter()
def guess():
    while time.time() < end:
        c = http.client.HTTPSConnection('198.18.0.1', 9750, context=ctx, timeout=10, source_address=('198.18.0.3', 0))
        try:
            auth = base64.b64encode(b'prometheus:' + os.urandom(6).hex().encode()).decode()
            c.request('GET', '/metrics', headers={'Authorization': 'Basic ' + auth})
            r = c.getresponse(); r.read(); answers[r.status] += 1
        except Exception as e:
            answers[type(e).__name__] += 1
        finally:
            c.close()
threads = [threading.Thread(target=guess) for _ in range(int(sys.argv[3]))]
for t in threads: t.start()
for t in threads: t.join()
print('answers:', dict(answers))
PY
after=$(awk '{print $14 + $15}' "/proc/$EXPORTER_PID/stat")
kill -0 "$EXPORTER_PID" || { echo "the exporter died" >&2; exit 4; }
awk -v b="$before" -v a="$after" -v hz="$HZ" -v d="$DURATION" -v c="$CONNECTIONS" \
  'BEGIN { printf "exporter CPU over %d s of %d guessing connections: %.2f s = %.2f cores\n", d, c, (a - b) / hz, (a - b) / hz / d }'
