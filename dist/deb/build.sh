#!/usr/bin/env bash
# Builds portscope's Debian package: the release binary, its man pages (portscope(1) and one per
# command, portscope-list(1), ...), bash/zsh/fish completions
# and the systemd units (assets listed under [package.metadata.deb] in crates/portscope/Cargo.toml).
#
#   dist/deb/build.sh              # cargo build --release, then the .deb in target/debian/
#   dist/deb/build.sh --no-build   # package the release binary already in target/release/
#   OUT=/tmp dist/deb/build.sh     # write the .deb elsewhere
#
# Needs cargo-deb (`cargo install cargo-deb`).
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v cargo-deb >/dev/null || { echo "build.sh: cargo-deb is not installed (cargo install cargo-deb)" >&2; exit 2; }
target=${CARGO_TARGET_DIR:-target}
if [ "${1:-}" != "--no-build" ]; then
  cargo build --release --locked -p portscope
fi
bin="$target/release/portscope"
[ -x "$bin" ] || { echo "build.sh: $bin is missing; build it or drop --no-build" >&2; exit 2; }
# Generated from the binary's own clap definitions, so they always match its flags.
extra="$target/release/deb-extra"
rm -rf "$extra" && mkdir -p "$extra/man"
# A stripped copy goes into the package; the build's own binary is left as it is.
cp "$bin" "$extra/portscope" && strip "$extra/portscope"
"$bin" man | gzip -9n >"$extra/man/portscope.1.gz"
for command in $("$bin" man --list); do
  "$bin" man "$command" | gzip -9n >"$extra/man/portscope-$command.1.gz"
done
"$bin" completions bash >"$extra/portscope.bash"
"$bin" completions zsh >"$extra/_portscope"
"$bin" completions fish >"$extra/portscope.fish"
cargo deb -p portscope --no-build --no-strip --output "${OUT:-$target/debian}"
