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
#   -use-ld=lld, -function-sections, --symbol-ordering-file
#                                  every function in a section of its own (Swift: -Xfrontend
#                                  -function-sections, C: -ffunction-sections), laid out by lld in the
#                                  order `wirenet up` first runs them (scripts/function-order/wirenet.order,
#                                  recorded by scripts/record-function-order.sh): the code of start-up
#                                  and of the idle loop lies together instead of in pages spread over
#                                  the whole .text, each of which the kernel maps with up to 64 KiB
#                                  around it (fault-around). Functions missing from the list (other
#                                  commands, newer code) follow it; a stale list costs pages, never
#                                  correctness. WIRENET_FUNCTION_ORDER=none links without the list.
#                                  Functions without a symbol, which no list can name, are gathered
#                                  ahead of .text (scripts/function-order/private-text.lds).
#   -L <folder with libstdc++.a>   libstdc++ linked statically: the toolchain's static link names
#                                  -lstdc++, and a folder that holds only the archive, searched before
#                                  the compiler's own, makes that name find the archive (the shared
#                                  library's start-up and relocations cost ~1 MiB of RSS).
# Library users of the package are not affected (Package.swift has no unsafe flags). SwiftPM compiles
# every module again for --static-swift-stdlib, so this build has a scratch folder of its own
# (.build/wirenet-release): plain `swift build -c release` builds in .build keep theirs.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=.build/wirenet-release
order="${WIRENET_FUNCTION_ORDER:-scripts/function-order/wirenet.order}"
flags=(-c release --traits CLI --scratch-path "$scratch" --static-swift-stdlib
       -Xswiftc -use-ld=lld -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections
       -Xlinker --no-export-dynamic -Xlinker -no-pie
       -Xlinker -T -Xlinker "$PWD/scripts/function-order/private-text.lds")
static_cxx="$scratch/static-libstdc++"
archive="$(clang -print-file-name=libstdc++.a)"
if [ -f "$archive" ]; then
    mkdir -p "$static_cxx"
    ln -sf "$archive" "$static_cxx/libstdc++.a"
    flags+=(-Xswiftc -L"$PWD/$static_cxx")
else
    echo "build-wirenet: no libstdc++.a (Debian: libstdc++-12-dev); libstdc++ linked as a shared library" >&2
fi
if [ "$order" != none ] && [ -f "$order" ]; then
    # Under a name that carries its content's hash: SwiftPM relinks when the link line changes, not
    # when a file the line names does.
    linked_order="$scratch/wirenet-$(sha256sum "$order" | cut -c1-16).order"
    mkdir -p "$scratch"
    [ -f "$linked_order" ] || cp "$order" "$linked_order"
    flags+=(-Xlinker --symbol-ordering-file="$PWD/$linked_order" -Xlinker --no-warn-symbol-ordering)
fi
flags+=("$@")
swift build "${flags[@]}" --product wirenet >/dev/null
echo "$(swift build "${flags[@]}" --show-bin-path)/wirenet"
