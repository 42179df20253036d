#!/usr/bin/env bash
# Builds every libFuzzer target in Fuzz/ and runs each for N seconds (default 30).
# Fails on the first crash, leak or timeout and prints the reproducer's path.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../Fuzz"

seconds="${1:-30}"
shift || true

echo "fuzz: building targets with -sanitize=fuzzer"
build_log="$(mktemp)"
if ! swift build --sanitize=fuzzer -Xswiftc -parse-as-library >"$build_log" 2>&1; then
    # A target that no longer compiles must fail the run here, not as "binary not found" per target.
    grep -E "error:" "$build_log" | sort -u | head -20
    echo "fuzz: the fuzz targets do not build" >&2
    rm -f "$build_log"
    exit 1
fi
grep -E "warning: unre|Build complete" "$build_log" | grep -v "^\[" || true
rm -f "$build_log"
bin="$(swift build --sanitize=fuzzer -Xswiftc -parse-as-library --show-bin-path)"

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(swift package describe --type json \
        | python3 -c 'import json,sys; print("\n".join(t["name"] for t in json.load(sys.stdin)["targets"] if t["type"]=="executable"))')
fi
if [ ${#targets[@]} -eq 0 ]; then
    echo "fuzz: no fuzz targets defined" >&2
    exit 1
fi

# Swift's own crash handler would otherwise take over and libFuzzer would not save the crashing input.
export SWIFT_BACKTRACE=enable=no
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=0
passed=0
for t in "${targets[@]}"; do
    mkdir -p "$work/$t"
    seeds=()
    [ -d "Corpus/$t" ] && seeds=("Corpus/$t")
    echo "fuzz: $t for ${seconds}s"
    if "$bin/$t" "$work/$t" "${seeds[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$work/$t-" -print_final_stats=1 >"$work/$t.log" 2>&1; then
        grep -E "stat::number_of_executed_units|cov:" "$work/$t.log" | tail -2 | sed "s/^/fuzz: $t: /"
        passed=$((passed + 1))
    else
        echo "fuzz: $t FAILED; last output:"
        tail -40 "$work/$t.log"
        for a in "$work/$t-"*; do
            [ -f "$a" ] || continue
            mkdir -p ../.build-fuzz-artifacts && cp "$a" ../.build-fuzz-artifacts/
            echo "fuzz: reproducer kept at .build-fuzz-artifacts/$(basename "$a") (hex: $(head -c 64 "$a" | od -An -tx1 | tr -d ' \n'))"
        done
        failed=$((failed + 1))
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
