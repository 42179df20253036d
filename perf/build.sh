#!/usr/bin/env bash
# Builds the perf tools with Debian's Go and Debian's Go library packages (no module proxy):
#   perf/.build/bin/wnperf       wnproto client/server over kernel sockets, /proc reader
#   perf/.build/bin/gvisor-peer  wireguard-go + gVisor netstack node running wnproto (row c)
# Needs: golang-go golang-golang.zx2c4-wireguard-dev golang-gvisor-gvisor-dev
#        golang-golang-x-crypto-dev golang-golang-x-net-dev golang-golang-x-sys-dev
# Installs the missing ones with apt when run as root (perf/run.sh does the same for all its tools), so
# that the script works on its own on a fresh machine; otherwise says which are missing.
set -euo pipefail
perf="$(cd "$(dirname "$0")" && pwd)"
go_packages=(golang-go golang-golang.zx2c4-wireguard-dev golang-gvisor-gvisor-dev
             golang-golang-x-crypto-dev golang-golang-x-net-dev golang-golang-x-sys-dev)
missing=()
for p in "${go_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || { echo "build.sh: missing ${missing[*]} (run as root to install them)" >&2; exit 1; }
    echo "build.sh: installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
out="$perf/.build"
mkdir -p "$out/bin" "$out/gopath/src"
# GOPATH mode: our packages are imported as wirenet-perf/<dir>.
ln -sfn "$perf" "$out/gopath/src/wirenet-perf"
export GO111MODULE=off
export GOPATH="/usr/share/gocode:$out/gopath"
export GOCACHE="${GOCACHE:-$out/gocache}"
export GOFLAGS="${GOFLAGS:-}"
for cmd in wnperf gvisor-peer; do
    nice -n 10 go build -o "$out/bin/$cmd" "wirenet-perf/$cmd"
done
# wireguard-go built from Debian's library source (same version and Go as /usr/bin/wireguard-go,
# which is stripped) so that `perf record` can name its functions.
nice -n 10 go build -o "$out/bin/wireguard-go-symbols" golang.zx2c4.com/wireguard
nice -n 10 go vet wirenet-perf/wnproto wirenet-perf/wnperf wirenet-perf/gvisor-peer
[ "${SKIP_GO_TESTS:-0}" = 1 ] || nice -n 10 go test -count=1 wirenet-perf/wnproto
echo "build: $out/bin/{wnperf,gvisor-peer,wireguard-go-symbols}"
