#!/bin/sh
# Rebuilds portscope's BPF objects (crates/portscope-linux/bpf/obj/*.o) from their C sources with
# clang, the way the checked-in objects were built. Building portscope itself never needs clang:
# the objects are checked in and included with include_bytes!.
#
#   tools/build-bpf.sh                 rebuild into crates/portscope-linux/bpf/obj/
#   tools/build-bpf.sh --out DIR       rebuild into DIR (CI compares DIR with the checked-in ones)
#   tools/build-bpf.sh --vmlinux       also regenerate bpf/vmlinux.h from this kernel's BTF
#
# Needs clang (14 or later, -target bpf), libbpf-dev (bpf/bpf_helpers.h ...) and, for --vmlinux,
# bpftool. -g keeps the BTF that CO-RE relocations need; -fdebug-prefix-map keeps the build
# directory out of the object, so the bytes depend only on the sources and the compiler.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
src=$root/crates/portscope-linux/bpf
out=$src/obj
while [ $# -gt 0 ]; do
    case $1 in
        --out) out=$2; shift 2 ;;
        --vmlinux) bpftool btf dump file /sys/kernel/btf/vmlinux format c > "$src/vmlinux.h"; shift ;;
        *) echo "build-bpf.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
mkdir -p "$out"
# The compiler's major version, which CI compares before it compares bytes.
[ "$out" != "$src/obj" ] || clang -dumpversion | cut -d. -f1 > "$out/CLANG_VERSION"
for c in "$src"/*.bpf.c; do
    name=$(basename "$c" .bpf.c)
    (cd "$src" && clang -target bpf -O2 -g -D__TARGET_ARCH_x86 \
        -fdebug-prefix-map="$src"=. -fno-ident \
        -I. -c "$name.bpf.c" -o "$out/$name.o")
    llvm-strip -g "$out/$name.o"
done
echo "built $(ls "$out"/*.o | wc -l) object(s) in $out"
