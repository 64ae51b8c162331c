#!/usr/bin/env bash
# Install the system tools the suite and the demo drive (iproute2 for namespaces and veth,
# ping/arping/dig as real kernel peers, a C compiler for the cffi build). Does nothing when
# they are already present; needs root (CI runs as root) to install anything.
#
# With --fuzz it also installs what `make fuzz` needs (clang and its sanitizer/libFuzzer
# runtime); nothing else asks for those, so they stay opt-in (`make fuzz-deps`).
set -euo pipefail

need=()
if [ "${1:-}" = "--fuzz" ]; then
    command -v clang >/dev/null || need+=(clang)
    compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null ||
        need+=(libclang-rt-dev)
fi
command -v ip >/dev/null || need+=(iproute2)
command -v ping >/dev/null || need+=(iputils-ping)
command -v arping >/dev/null || need+=(arping)
command -v dig >/dev/null || need+=(bind9-dnsutils)
command -v gcc >/dev/null || need+=(gcc)
command -v make >/dev/null || need+=(make)
[ -e /usr/include/linux/if_packet.h ] || need+=(linux-libc-dev)

if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "system-deps: missing ${need[*]}; install them (as root: apt-get install ${need[*]})" >&2
    exit 1
fi
echo "system-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || echo "system-deps: apt-get update failed, trying the cached index" >&2
apt-get install -y -qq --no-install-recommends "${need[@]}"
