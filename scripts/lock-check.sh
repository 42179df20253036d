#!/usr/bin/env bash
# Checks Locking's `Lock` against a bare `Synchronization.Mutex`, outside the package build (a few
# small swiftc/clang compiles):
# 1. Cost. Compiles Sources/Locking and a client as two modules with -O (as a release build does,
#    the client inlining Lock's @inlinable withLock) and compares the machine code of the same
#    function over a `Lock` and over a `Mutex`.
#      plain build (no sanitizer): must be the same instructions (the TSan annotations are empty C
#                                  inlines); exit 1 otherwise.
#      -sanitize=thread -Xcc -DWIRENET_THREAD_SANITIZER (as scripts/sanitizers.sh thread builds): the
#                                  Lock's version must call __tsan_acquire and __tsan_release.
# 2. Hand-over under ThreadSanitizer. Builds a program whose four threads take one lock 5,000 times
#    each (a Mutex, or a Lock), with -sanitize=thread, and runs each variant RUNS times (default 4):
#    the Lock runs must have no report (exit 1 otherwise); the Mutex runs show what the annotations
#    prevent (a run without contention reports nothing; the count is recorded).
# Writes perf/results/lock-check/<time>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/include"
cp Sources/CThreadSanitizer/include/CThreadSanitizer.h "$work/include/"
printf 'module CThreadSanitizer {\n    header "CThreadSanitizer.h"\n    export *\n}\n' >"$work/include/module.modulemap"
# The same function over each lock type, each in a module of its own (in one module LLVM merges
# identical functions, leaving two jumps to compare).
for kind in Lock Mutex; do
    cat >"$work/client$kind.swift" <<SOURCE
import Locking
import Synchronization

public final class Box: Sendable { let value = $kind(0) }
@inline(never) public func increment(_ box: Box) -> Int { box.value.withLock { \$0 += 1; return \$0 } }
SOURCE
done

# The instructions of one function of an assembly file (its label matching $2), with local labels
# numbered alike and without
# directives, so that two functions compare by their code.
function_code() {
    awk -v pattern="$2" '
        $0 ~ pattern { inside = 1; next }
        inside && /^\.Lfunc_end/ { exit }
        inside && $1 !~ /^\./ { print }
        inside && $1 ~ /^\.LBB/ { print }
    ' "$1" | sed -E 's/\.LBB[0-9]+_/.LBB_/g; s/[[:space:]]+/ /g'
}

mkdir -p perf/results/lock-check
out="perf/results/lock-check/$(date -u +%Y-%m-%dT%H%MZ).txt"
result=ok
{
    echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources/Locking Sources/CThreadSanitizer || echo '+changes')"
    echo "swift: $(swift --version 2>/dev/null | head -1)"
} >"$out"
for build in plain thread; do
    flags=(-O -parse-as-library)
    [ "$build" = thread ] && flags+=(-sanitize=thread -Xcc -DWIRENET_THREAD_SANITIZER)
    mkdir -p "$work/$build"
    swiftc "${flags[@]}" -emit-module -module-name Locking -emit-module-path "$work/$build/Locking.swiftmodule" \
        -I "$work/include" Sources/Locking/Lock.swift
    for kind in Lock Mutex; do
        swiftc "${flags[@]}" -S -module-name Client -I "$work/$build" -I "$work/include" "$work/client$kind.swift" \
            -o "$work/$build/client$kind.s"
    done
    lock_code="$(function_code "$work/$build/clientLock.s" '^[$]s6Client9increment[A-Za-z0-9_]*3BoxCF:')"
    mutex_code="$(function_code "$work/$build/clientMutex.s" '^[$]s6Client9increment[A-Za-z0-9_]*3BoxCF:')"
    [ -n "$lock_code" ] && [ -n "$mutex_code" ] || { echo "lock-check: functions not found in $build build" >&2; exit 1; }
    {
        echo
        echo "== $build build (${flags[*]}): increment(_:) over a Lock, $(echo "$lock_code" | wc -l) instructions"
        echo "$lock_code"
        echo "== $build build: increment(_:) over a Mutex, $(echo "$mutex_code" | wc -l) instructions"
        echo "$mutex_code"
    } >>"$out"
    if [ "$build" = plain ]; then
        if [ "$lock_code" = "$mutex_code" ]; then
            echo "plain: Lock and Mutex compile to the same instructions" >>"$out"
        else
            echo "plain: Lock and Mutex differ" >>"$out"
            result=failed
        fi
    else
        if grep -q '__tsan_acquire' <<<"$lock_code" && grep -q '__tsan_release' <<<"$lock_code"; then
            echo "thread: Lock calls __tsan_acquire and __tsan_release" >>"$out"
        else
            echo "thread: Lock does not annotate" >>"$out"
            result=failed
        fi
    fi
done

# 2. The hand-over under ThreadSanitizer.
cat >"$work/contention.swift" <<'SOURCE'
import Glibc
import Locking
import Synchronization

struct Tally { var count = 0; var recent: [Int] = [] }
final class Shared: Sendable {
    let mutex = Mutex(Tally())
    let lock = Lock(Tally())
}
let useLock = CommandLine.arguments.dropFirst().first == "lock"
let shared = Shared()
var threads: [pthread_t] = []
for _ in 0..<4 {
    var thread = pthread_t()
    pthread_create(&thread, nil, { _ in
        for round in 0..<5_000 {
            if useLock {
                shared.lock.withLock { $0.count += 1; $0.recent.append(round); if $0.recent.count > 64 { $0.recent.removeFirst(32) } }
            } else {
                shared.mutex.withLock { $0.count += 1; $0.recent.append(round); if $0.recent.count > 64 { $0.recent.removeFirst(32) } }
            }
        }
        return nil
    }, nil)
    threads.append(thread)
}
for thread in threads { pthread_join(thread, nil) }
let count = useLock ? shared.lock.withLock { $0.count } : shared.mutex.withLock { $0.count }
print(count == 20_000 ? "count ok" : "count \(count), expected 20000")
SOURCE
tsan=(-sanitize=thread -Xcc -DWIRENET_THREAD_SANITIZER -g -parse-as-library)
mkdir -p "$work/tsan"
clang -fsanitize=thread -g -c -I Sources/CThreadSanitizer/include Sources/CThreadSanitizer/thread_sanitizer.c -o "$work/tsan/shim.o"
swiftc "${tsan[@]}" -emit-module -emit-library -static -module-name Locking -emit-module-path "$work/tsan/Locking.swiftmodule" \
    -I "$work/include" Sources/Locking/Lock.swift -o "$work/tsan/libLocking.a"
swiftc -sanitize=thread -Xcc -DWIRENET_THREAD_SANITIZER -g -I "$work/tsan" -I "$work/include" "$work/contention.swift" \
    "$work/tsan/libLocking.a" "$work/tsan/shim.o" -o "$work/tsan/contention"
runs="${RUNS:-4}"
echo >>"$out"
echo "== hand-over under ThreadSanitizer: 4 threads x 5,000 withLock, $runs runs each; load before: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out"
for kind in mutex lock; do
    reports=()
    for _ in $(seq "$runs"); do
        log="$(TSAN_OPTIONS=halt_on_error=0 "$work/tsan/contention" "$kind" 2>&1 || true)"
        grep -q '^count ok$' <<<"$log" || { echo "$kind: $(grep -a '^count' <<<"$log")" >>"$out"; result=failed; }
        reports+=("$(grep -ac 'WARNING: ThreadSanitizer' <<<"$log" || true)")
    done
    echo "$kind: reports per run: ${reports[*]}" >>"$out"
    if [ "$kind" = lock ] && [ -n "$(printf '%s\n' "${reports[@]}" | grep -v '^0$' || true)" ]; then result=failed; fi
done
echo "result: $result" >>"$out"
grep -E '^(plain|thread|mutex|lock|result):' "$out"
echo "lock-check: $out"
[ "$result" = ok ]
