# Sourced by perf/crypto-bench.sh and perf/profile-crypto.sh (from the repository root): sets $bench,
# the WireGuardParallelBench to run — $CRYPTO_BENCH_BIN when set (e.g. a binary of an earlier commit),
# else a release build of this tree — and $bench_origin, what it was built from.
if [ -n "${CRYPTO_BENCH_BIN:-}" ]; then
    bench="$CRYPTO_BENCH_BIN"
    bench_origin="binary $bench"
else
    swift build -c release --traits CLI --product WireGuardParallelBench >/dev/null
    bench="$(swift build -c release --traits CLI --show-bin-path)/WireGuardParallelBench"
    bench_origin="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources perf/crypto || echo '+changes')"
fi
