#!/usr/bin/env bash
# Runs the test control server (Tests/TestControl) in the foreground, building it first when its
# sources are newer than the binary. It prints "ready http://HOST:PORT" once it accepts; logs go
# to stderr. Every flag is the server's own (see Docs/control-plane.md, "The test control server"):
#   scripts/testcontrol.sh --listen 127.0.0.1:PORT --authkey KEY [--authkey KEY ...] [--state DIR]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="$repo/.build/testcontrol"
bin="$out/testcontrol"

if ! command -v go >/dev/null 2>&1; then
    echo "testcontrol: Go is not installed (Debian: apt-get install golang-go golang-golang-x-crypto-dev golang-golang-x-net-dev golang-github-klauspost-compress-dev)" >&2
    exit 1
fi

newest_source="$(find "$repo/Tests/TestControl" -name '*.go' ! -name '*_test.go' -newer "$bin" 2>/dev/null | head -1 || true)"
if [ ! -x "$bin" ] || [ -n "$newest_source" ]; then
    # GOPATH mode with Debian's Go packages: src/wirenet points at this repository.
    mkdir -p "$out/gopath/src"
    ln -sfn "$repo" "$out/gopath/src/wirenet"
    echo "testcontrol: building $bin" >&2
    (cd "$out/gopath/src/wirenet/Tests/TestControl" &&
        GO111MODULE=off GOPATH="$out/gopath:/usr/share/gocode" GOFLAGS= go build -o "$bin.tmp" .) >&2
    mv "$bin.tmp" "$bin"
fi
exec "$bin" "$@"
