#!/usr/bin/env bash
# Tests the test control server: go vet, go test (unit and protocol tests with a Go client of its
# own), then the interop test against arkitekt-mesh, an independent client. Exit status is
# non-zero when any part fails. Needs Debian's Go 1.19 with golang-golang-x-crypto-dev,
# golang-golang-x-net-dev and golang-github-klauspost-compress-dev, and `pip install arkitekt-mesh`.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
gopath="$repo/.build/testcontrol/gopath"
mkdir -p "$gopath/src"
ln -sfn "$repo" "$gopath/src/wirenet"
export GO111MODULE=off GOPATH="$gopath:/usr/share/gocode" GOFLAGS=

cd "$gopath/src/wirenet/Tests/TestControl"
echo "testcontrol: go vet"
go vet .
echo "testcontrol: go test"
go test -count=1 .
echo "testcontrol: interop with arkitekt-mesh"
python3 "$repo/Tests/TestControl/interop_test.py"
