import Wire

/// Ties the monotonic clock to wall-clock time, for the TAI64N timestamps of handshake initiations:
/// at `instant`, the wall clock read `unixNanoseconds` since 1970.
public struct WallClockAnchor: Sendable {
    /// An instant on the monotonic clock.
    public var instant: NetInstant
    /// The wall clock at `instant`, in nanoseconds since 1970-01-01 UTC.
    public var unixNanoseconds: Int64

    /// Ties `instant` on the monotonic clock to `unixNanoseconds` on the wall clock.
    public init(instant: NetInstant, unixNanoseconds: Int64) {
        self.instant = instant
        self.unixNanoseconds = unixNanoseconds
    }

    /// The TAI64N timestamp at `now`.
    func timestamp(at now: NetInstant) -> TAI64N {
        let elapsed = now.nanoseconds &- instant.nanoseconds
        let wall = unixNanoseconds &+ elapsed
        let seconds = wall >= 0 ? wall / 1_000_000_000 : (wall - 999_999_999) / 1_000_000_000
        let nanos = UInt32(wall - seconds * 1_000_000_000)
        return TAI64N(unixSeconds: seconds, nanoseconds: nanos)
    }
}
