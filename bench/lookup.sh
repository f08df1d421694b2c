#!/usr/bin/env bash
# How fast portscope answers "what is this port?" from its compiled-in registry, against the
# lookups a user would otherwise run on this machine (getent and grep over /etc/services, which
# know far fewer ports). Needs hyperfine and a release build: cargo build --release
. "$(dirname "$0")/lib.sh"
bin=target/release/portscope
[ -x "$bin" ] || bench_build
command -v hyperfine >/dev/null || { echo "hyperfine is not installed" >&2; exit 1; }

echo "registry rows compiled in: $(grep -vc '^#' crates/portscope-core/data/iana-services.tsv); /etc/services lines: $(grep -vc '^\s*\(#\|$\)' /etc/services || true)"
hyperfine --warmup 5 --runs 200 -N --export-markdown /dev/null \
  "$bin lookup 443/tcp" \
  "$bin lookup ssh" \
  "$bin lookup 6000-6010" \
  "getent services 443/tcp" \
  "grep -w 443/tcp /etc/services" 2>&1 | grep -E 'Benchmark|Time|ran|faster|slower'
