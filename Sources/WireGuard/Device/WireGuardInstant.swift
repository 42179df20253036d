/// A point on the caller's monotonic clock, in nanoseconds. The module never reads a clock:
/// every call that depends on time takes `now`.
public struct NetInstant: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var nanoseconds: UInt64

    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    public static let zero = NetInstant(nanoseconds: 0)

    public static func < (a: Self, b: Self) -> Bool { a.nanoseconds < b.nanoseconds }

    /// `self + duration`, saturating at the ends of the range.
    public static func + (instant: Self, duration: Duration) -> Self {
        let delta = duration.saturatedNanoseconds
        if delta >= 0 {
            let (sum, overflow) = instant.nanoseconds.addingReportingOverflow(UInt64(delta))
            return Self(nanoseconds: overflow ? .max : sum)
        }
        let magnitude = delta.magnitude
        return Self(nanoseconds: instant.nanoseconds > magnitude ? instant.nanoseconds - magnitude : 0)
    }

    /// The time from `earlier` to `self` (zero if `earlier` is later).
    public func since(_ earlier: Self) -> Duration {
        guard nanoseconds > earlier.nanoseconds else { return .zero }
        return .nanoseconds(Int64(clamping: nanoseconds - earlier.nanoseconds))
    }

    public var description: String { "\(Double(nanoseconds) / 1e9)s" }
}

extension Duration {
    /// The duration in whole nanoseconds, clamped to `Int64`.
    var saturatedNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return scaled.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }
}

/// Ties the monotonic clock to wall-clock time, for the TAI64N timestamps of handshake initiations:
/// at `instant`, the wall clock read `unixNanoseconds` since 1970.
public struct WallClockAnchor: Sendable {
    public var instant: NetInstant
    public var unixNanoseconds: Int64

    public init(instant: NetInstant, unixNanoseconds: Int64) {
        self.instant = instant
        self.unixNanoseconds = unixNanoseconds
    }

    /// The TAI64N timestamp at `now`.
    func timestamp(at now: NetInstant) -> TAI64N {
        let elapsed = Int64(clamping: now.nanoseconds) &- Int64(clamping: instant.nanoseconds)
        let wall = unixNanoseconds &+ elapsed
        let seconds = wall >= 0 ? wall / 1_000_000_000 : (wall - 999_999_999) / 1_000_000_000
        let nanos = UInt32(wall - seconds * 1_000_000_000)
        return TAI64N(unixSeconds: seconds, nanoseconds: nanos)
    }
}
