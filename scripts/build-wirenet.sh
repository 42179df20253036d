#!/usr/bin/env bash
# Builds the release `wirenet` command and prints the executable's path. scripts/run.sh and the perf
# scripts build it here, so that every figure is taken with the executable users get.
#   scripts/build-wirenet.sh [more swift build arguments, e.g. --scratch-path DIR]
#
# Link options (issue 14, idle memory: Docs/performance.md, "Idle memory after the link options"):
#   --static-swift-stdlib          the Swift runtime, Concurrency, Foundation(Essentials) and Dispatch
#                                  linked into the executable: ld.so no longer loads eleven Swift
#                                  libraries nor looks up and relocates thousands of their symbols
#                                  at start-up (each lookup touches their symbol tables).
#   -Xlinker --no-export-dynamic   undoes the toolchain's -export-dynamic for static builds: no
#                                  100k-symbol dynamic symbol table to search at start-up.
#   -Xlinker -no-pie               a position-dependent executable: no 1.4 MiB of relative
#                                  relocations applied to .data.rel.ro at every start (dirty pages).
# Library users of the package are not affected (Package.swift has no unsafe flags). SwiftPM compiles
# every module again for --static-swift-stdlib, so this build has a scratch folder of its own
# (.build/wirenet-release): plain `swift build -c release` builds in .build keep theirs.
set -euo pipefail
cd "$(dirname "$0")/.."
flags=(-c release --traits CLI --scratch-path .build/wirenet-release --static-swift-stdlib
       -Xlinker --no-export-dynamic -Xlinker -no-pie "$@")
swift build "${flags[@]}" --product wirenet >/dev/null
echo "$(swift build "${flags[@]}" --show-bin-path)/wirenet"
