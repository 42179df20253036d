#!/usr/bin/env bash
# What a library user fetches and builds: makes a throwaway package that depends on the WireNet
# product alone (by path) and prints a hello world through it, resolves it, builds it with a plain
# `swift build`, and records which packages were checked out and which plugins were compiled.
#   scripts/check-library-deps.sh [REPOSITORY]   (default: this repository; another checkout, e.g.
#                                                 an older commit, to compare)
#   NO_BUILD=1   resolve only (the build compiles the WireNet library: minutes on 2 cores)
# Writes perf/results/library-deps/<time>.txt; exits 1 when swift-argument-parser, swift-prometheus
# or a plugin reached the user's package.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
repository="$(cd "${1:-$here}" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# SwiftPM names a path dependency after its folder.
name="$(basename "$repository" | tr '[:upper:]' '[:lower:]')"
mkdir -p "$work/Sources/Hello"
cat > "$work/Package.swift" <<MANIFEST
// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Hello",
    dependencies: [.package(path: "$repository")],
    targets: [
        .executableTarget(name: "Hello", dependencies: [.product(name: "WireNet", package: "$name")]),
    ]
)
MANIFEST
cat > "$work/Sources/Hello/main.swift" <<'SOURCE'
import WireNet
print("hello from a WireNet user: \(String(describing: Node.self))")
SOURCE

mkdir -p "$here/perf/results/library-deps"
out="$here/perf/results/library-deps/$(date -u +%Y%m%dT%H%M%SZ).txt"
{
    echo "repository: $repository at $(git -C "$repository" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$repository" diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "swift: $(swift --version 2>/dev/null | head -1)"
} > "$out"
(cd "$work" && swift package resolve >"$work/resolve.log" 2>&1) || { tail -20 "$work/resolve.log"; exit 1; }
{
    echo "checked out after resolve:"
    ls "$work/.build/checkouts" | sed 's/^/  /'
} >> "$out"
if [ "${NO_BUILD:-0}" != 1 ]; then
    (cd "$work" && swift build >"$work/build.log" 2>&1) || { tail -20 "$work/build.log"; exit 1; }
    {
        echo "modules compiled by a plain swift build:"
        grep -oE 'Compiling [A-Za-z_]+' "$work/build.log" | awk '{print $2}' | sort -u | tr '\n' ' ' | sed 's/^/  /; s/ $/\n/'
        echo "plugins compiled (.build/plugins/cache):"
        ls "$work/.build/plugins/cache" 2>/dev/null | grep -v '\.\(json\|dia\)$' | sed 's/^/  /' || true
        echo "hello world: $("$work/.build/debug/Hello")"
    } >> "$out"
fi
cat "$out"
echo "library-deps: written to ${out#$here/}"
if grep -qE '^  (swift-argument-parser|swift-prometheus|Generate[A-Za-z]+)$' "$out"; then
    echo "library-deps: the CLI's dependencies reached a library user"
    exit 1
fi
