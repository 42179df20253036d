#!/usr/bin/env bash
# Builds the control-plane helper libwirenetcontrol.so (Sources/ControlHelper, Go with cgo) in GOPATH
# mode with Debian's Go, writes it to .build/control-helper/ and copies it next to every `wirenet`
# executable under .build/*/ and .build-*/*/ (the sanitizer builds). Rebuilds only when a source changed. Exits 0 with a message when Go is
# not installed (everything but tailnet login builds and runs without it).
# Usage: scripts/build-control-helper.sh [--force]
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
out_dir="$root/.build/control-helper"
lib="$out_dir/libwirenetcontrol.so"

if ! command -v go >/dev/null 2>&1; then
    echo "build-control-helper: go is not installed; skipping libwirenetcontrol.so (tailnet login needs it; apt-get install golang-go golang-golang-x-crypto-dev golang-golang-x-net-dev golang-github-klauspost-compress-dev)"
    exit 0
fi

mkdir -p "$out_dir"
sources=$(find Sources/ControlHelper -type f \( -name '*.go' -o -name '*.h' -o -name '*.c' \) ! -name '*_test.go' ! -path '*/testdata/*' | sort)
stamp="$out_dir/sources.sha256"
digest=$( (go version; sha256sum scripts/build-control-helper.sh; for f in $sources; do sha256sum "$f"; done) | sha256sum | cut -d' ' -f1)

if [ "${1:-}" != "--force" ] && [ -f "$lib" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ]; then
    echo "build-control-helper: up to date: $lib"
else
    # GOPATH mode: src/wirenet -> the repository; a stable path keeps Go's build cache warm.
    gopath="$out_dir/gopath"
    mkdir -p "$gopath/src"
    ln -sfn "$root" "$gopath/src/wirenet"
    echo "build-control-helper: building $lib"
    (cd "$gopath/src/wirenet/Sources/ControlHelper" &&
        GO111MODULE=off GOPATH="$gopath:/usr/share/gocode" GOFLAGS= GOCACHE="${GOCACHE:-$root/.build/control-helper/gocache}" CGO_ENABLED=1 \
        go build -buildmode=c-shared -trimpath -ldflags="-s -w" -o "$lib.tmp" .)
    rm -f "$lib.h" "$lib.tmp.h" "${lib%.so}.h"
    mv "$lib.tmp" "$lib"
    echo "$digest" > "$stamp"
    echo "build-control-helper: wrote $lib"
fi

# Next to every wirenet executable, where the Swift side looks after Node.Options / the env var.
for exe in .build/*/wirenet .build/wirenet-release/*/wirenet .build-*/*/wirenet; do
    [ -f "$exe" ] && [ -x "$exe" ] || continue
    dir="$(dirname "$exe")"
    if ! cmp -s "$lib" "$dir/libwirenetcontrol.so"; then
        cp "$lib" "$dir/libwirenetcontrol.so"
        echo "build-control-helper: copied to $dir/libwirenetcontrol.so"
    fi
done
