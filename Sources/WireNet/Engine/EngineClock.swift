#if canImport(Glibc)
import Glibc
#endif
import WireGuard

/// The engine's notion of time: the monotonic clock for protocol timers, and one reading of the wall
/// clock to anchor WireGuard's TAI64N timestamps. The sans-IO cores never read a clock themselves.
enum EngineClock {
    /// Nanoseconds on `CLOCK_MONOTONIC`.
    static func monotonicNanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
    }

    static func now() -> WireGuardInstant {
        WireGuardInstant(nanoseconds: monotonicNanoseconds())
    }

    /// The monotonic clock tied to the wall clock, read together.
    static func wallClockAnchor() -> WallClockAnchor {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        let wall = Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
        return WallClockAnchor(instant: now(), unixNanoseconds: wall)
    }
}
