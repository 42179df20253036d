#!/usr/bin/env bash
# Installs the Debian packages WireNet needs to build and test, when they are missing.
# As root it installs them with apt-get; otherwise it prints the command to run and fails.
#   scripts/bootstrap.sh          build + test dependencies
#   scripts/bootstrap.sh --build  build dependencies only
set -euo pipefail

# libssl-dev for OpenSSL's headers: libssl3 itself is loaded at run time, only for TLS to DERP relays.
build_packages=(pkg-config libsodium-dev liburing-dev libssl-dev)
# Real peers and tools the interop tests drive (nobody here wrote them).
test_packages=(iproute2 wireguard-go wireguard-tools iperf3 iputils-ping curl socat
               netcat-openbsd tcpdump python3 python3-pip procps nftables openssl)
# The control-plane helper (cgo) and the test control server: Debian's Go in GOPATH mode, no module proxy.
go_packages=(golang-go golang-golang-x-crypto-dev golang-golang-x-net-dev golang-github-klauspost-compress-dev)

packages=("${build_packages[@]}" "${go_packages[@]}")
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

# An independent Tailscale-compatible client (Rust, driven from Python) for the tailnet interop tests.
if [ "${1:-}" != "--build" ] && ! python3 -c 'import arkitekt_mesh' 2>/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "bootstrap: installing arkitekt-mesh (PyPI)"
        python3 -m pip install -q arkitekt-mesh 2>/dev/null || python3 -m pip install -q --break-system-packages arkitekt-mesh
    else
        echo "bootstrap: arkitekt-mesh missing: python3 -m pip install arkitekt-mesh (tailnet interop tests skip without it)" >&2
    fi
fi

command -v swift >/dev/null || { echo "bootstrap: swift is not on PATH (expected /opt/swift/usr/bin)" >&2; exit 1; }
echo "bootstrap: dependencies present"
