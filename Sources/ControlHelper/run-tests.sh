#!/usr/bin/env bash
# Tests of the control-plane helper: go vet, go test (unit, fuzz seeds, integration against the
# test control server), then a C program that dlopens libwirenetcontrol.so and drives its exports
# against a running test control server. Exits 0 with a message when Go is not installed.
# Environment: FUZZ_SECONDS (default 0) also runs the map decoder fuzz target that long.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if ! command -v go >/dev/null 2>&1; then
    echo "controlhelper tests: go is not installed; skipped"
    exit 0
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill -- "-$server_pid" 2>/dev/null || kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# A stable GOPATH (src/wirenet -> the repository) keeps Go's build cache warm between runs.
gopath="$root/.build/control-helper/gopath"
mkdir -p "$gopath/src"
ln -sfn "$root" "$gopath/src/wirenet"
export GO111MODULE=off GOFLAGS= GOPATH="$gopath:/usr/share/gocode"
export GOCACHE="${GOCACHE:-$root/.build/control-helper/gocache}"
pkg="$gopath/src/wirenet/Sources/ControlHelper"

echo "controlhelper tests: go vet"
(cd "$pkg" && go vet ./...)
echo "controlhelper tests: go test"
(cd "$pkg" && go test -count=1 ./...)
fuzz_seconds="${FUZZ_SECONDS:-0}"
if [ "$fuzz_seconds" != "0" ]; then
    echo "controlhelper tests: fuzzing the map decoder for ${fuzz_seconds}s"
    (cd "$pkg/control" && go test -run '^$' -fuzz FuzzMapDecoder -fuzztime "${fuzz_seconds}s" -parallel 1 .)
fi

echo "controlhelper tests: C smoke test of libwirenetcontrol.so"
"$root/scripts/build-control-helper.sh"
lib="$root/.build/control-helper/libwirenetcontrol.so"
cc -Wall -Wextra -Werror -o "$work/smoke" "$here/ctest/smoke.c" -ldl -lpthread
"$work/smoke" "$lib" bad-config
"$work/smoke" "$lib" unreachable "http://127.0.0.1:1" "$work/state-unreachable"
"$work/smoke" "$lib" stop-in-callback "http://127.0.0.1:1" "$work/state-stop"

setsid "$root/scripts/testcontrol.sh" --listen 127.0.0.1:0 --authkey tskey-smoke >"$work/tc.out" 2>"$work/tc.err" &
server_pid=$!
url=""
for _ in $(seq 1 2400); do
    url="$(sed -n 's/^ready //p' "$work/tc.out" | head -1)"
    [ -n "$url" ] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/tc.err" >&2; echo "controlhelper tests: testcontrol exited" >&2; exit 1; }
    sleep 0.1
done
[ -n "$url" ] || { echo "controlhelper tests: testcontrol did not become ready" >&2; exit 1; }
"$work/smoke" "$lib" netmap "$url" tskey-smoke "$work/state-netmap"
echo "controlhelper tests: passed"
