#!/bin/sh
# Builds (when its sources changed) and runs the standalone test DERP relay,
# Tests/TestControl/derp/cmd/derp-relay, in the foreground. All arguments are
# the relay's own flags, e.g.
#   Tests/TestControl/derp/derp-relay.sh -listen 127.0.0.1:0 -cert-out /tmp/relay.pem
# It prints "ready addr=HOST:PORT key=HEX" on stdout once it accepts.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
out="$repo/.build/derp-relay"
bin="$out/derp-relay"
if [ ! -x "$bin" ] || [ -n "$(find "$here" -name '*.go' ! -name '*_test.go' -newer "$bin" | head -1)" ]; then
    mkdir -p "$out/gopath/src"
    ln -sfn "$repo" "$out/gopath/src/wirenet"
    echo "derp-relay: building $bin" >&2
    (cd "$out/gopath/src/wirenet/Tests/TestControl/derp" &&
        GO111MODULE=off GOFLAGS= GOPATH="$out/gopath:/usr/share/gocode" go build -o "$bin.tmp" ./cmd/derp-relay) >&2
    mv "$bin.tmp" "$bin"
fi
exec "$bin" "$@"
