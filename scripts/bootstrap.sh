#!/usr/bin/env bash
# Installs the Debian packages WireNet needs to build and test, when they are missing.
# As root it installs them with apt-get; otherwise it prints the command to run and fails.
#   scripts/bootstrap.sh          build + test dependencies
#   scripts/bootstrap.sh --build  build dependencies only
set -euo pipefail

build_packages=(pkg-config libsodium-dev liburing-dev)
# Real peers and tools the interop tests drive (nobody here wrote them).
test_packages=(iproute2 wireguard-go wireguard-tools iperf3 iputils-ping curl socat
               netcat-openbsd tcpdump python3 procps nftables)

packages=("${build_packages[@]}")
[ "${1:-}" = "--build" ] || packages+=("${test_packages[@]}")

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "bootstrap: missing Debian packages: ${missing[*]}" >&2
        echo "bootstrap: install them with: sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "bootstrap: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The TUN interop tests (wireguard-go, NetStack on a TUN device) need the device node.
if [ "$(id -u)" -eq 0 ] && [ ! -c /dev/net/tun ]; then
    mkdir -p /dev/net
    mknod /dev/net/tun c 10 200
    chmod 0666 /dev/net/tun
fi

command -v swift >/dev/null || { echo "bootstrap: swift is not on PATH (expected /opt/swift/usr/bin)" >&2; exit 1; }
echo "bootstrap: dependencies present"
