#if canImport(Glibc)
import Glibc
#endif
import WireGuard

/// The engine's notion of time: the monotonic clock for protocol timers, and the wall clock to
/// anchor WireGuard's TAI64N timestamps. The sans-IO cores never read a clock themselves; the engine
/// reads this one, which tests may replace (``Node/Options`` `clock`).
struct EngineClock: Sendable {
    /// The monotonic clock.
    let monotonic: @Sendable () -> NetInstant
    /// Nanoseconds since 1970 on the wall clock.
    let realtimeNanoseconds: @Sendable () -> Int64

    /// `CLOCK_MONOTONIC` and `CLOCK_REALTIME`.
    static let system = EngineClock(
        monotonic: {
            var spec = timespec()
            clock_gettime(CLOCK_MONOTONIC, &spec)
            return NetInstant(nanoseconds: UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec))
        },
        realtimeNanoseconds: {
            var spec = timespec()
            clock_gettime(CLOCK_REALTIME, &spec)
            return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
        })

    func now() -> NetInstant { monotonic() }

    /// The monotonic clock tied to the wall clock, read together.
    func wallClockAnchor() -> WallClockAnchor {
        WallClockAnchor(instant: monotonic(), unixNanoseconds: realtimeNanoseconds())
    }
}
