#!/bin/sh
# Vets and tests the test DERP relay (package wirenet/Tests/TestControl/derp)
# in GOPATH mode with Debian's Go and golang.org/x/crypto, as scripts/bootstrap.sh
# installs them. Extra arguments go to `go test` (e.g. -run Peer -v, or
# -run '^$' -fuzz FuzzClientFrames -fuzztime 30s).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
gopath=$(mktemp -d "${TMPDIR:-/tmp}/derp-gopath.XXXXXX")
trap 'rm -rf "$gopath"' EXIT INT TERM
mkdir -p "$gopath/src"
ln -s "$root" "$gopath/src/wirenet"
export GO111MODULE=off GOFLAGS= GOPATH="$gopath:/usr/share/gocode"
export GOCACHE="${GOCACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/go-build}"
cd "$gopath/src/wirenet/Tests/TestControl/derp"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted" >&2; exit 1; fi
go vet ./...
go build -o /dev/null ./cmd/derp-relay
go test -race -count=1 "$@" .
