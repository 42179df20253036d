/// A point on the caller's monotonic clock, in nanoseconds: the one time type of WireNet's sans-IO cores.
///
/// The cores (WireGuard, NetStack, Relay) never read a clock: every call that depends on time takes
/// `now`, and the cores answer with the next instant at which they want to be called again. Tests
/// drive a virtual clock. The origin is arbitrary and chosen by the caller; instants before it are
/// negative.
public struct NetInstant: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Nanoseconds since an arbitrary, fixed origin chosen by the caller.
    public var nanoseconds: Int64

    /// Creates an instant `nanoseconds` after the caller's clock origin.
    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    /// The clock origin.
    public static let zero = NetInstant(nanoseconds: 0)

    /// Milliseconds since the origin (what TCP timestamps count, RFC 7323 §5.4).
    public var milliseconds: Int64 { nanoseconds / 1_000_000 }

    public static func < (lhs: NetInstant, rhs: NetInstant) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    /// The instant `rhs` after `lhs` (before it, if `rhs` is negative); saturates instead of overflowing.
    public static func + (lhs: NetInstant, rhs: Duration) -> NetInstant {
        NetInstant(nanoseconds: lhs.nanoseconds.addingSaturating(rhs.saturatedNanoseconds))
    }

    /// The time from `earlier` to `self`, zero if `earlier` is later.
    public func since(_ earlier: NetInstant) -> Duration {
        let elapsed = nanoseconds.subtractingSaturating(earlier.nanoseconds)
        return elapsed > 0 ? .nanoseconds(elapsed) : .zero
    }

    /// The instant `nanoseconds` after `lhs`; saturates instead of overflowing.
    package static func + (lhs: NetInstant, nanoseconds: Int64) -> NetInstant {
        NetInstant(nanoseconds: lhs.nanoseconds.addingSaturating(nanoseconds))
    }

    /// The time from `rhs` to `lhs` in nanoseconds (negative if `rhs` is later); saturates.
    package static func - (lhs: NetInstant, rhs: NetInstant) -> Int64 {
        lhs.nanoseconds.subtractingSaturating(rhs.nanoseconds)
    }

    public var description: String { "t+\(Double(nanoseconds) / 1e9)s" }
}

extension Duration {
    /// This duration in whole nanoseconds, clamped to the `Int64` range.
    package var saturatedNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return scaled.addingSaturating(attoseconds / 1_000_000_000)
    }
}

extension Int64 {
    /// `self + other`, clamped to the `Int64` range.
    package func addingSaturating(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }

    /// `self - other`, clamped to the `Int64` range.
    package func subtractingSaturating(_ other: Int64) -> Int64 {
        let (difference, overflow) = subtractingReportingOverflow(other)
        return overflow ? (other < 0 ? .max : .min) : difference
    }
}

/// The earlier of two optional deadlines (`nil` means "no deadline").
@inline(__always)
package func earliest(_ a: NetInstant?, _ b: NetInstant?) -> NetInstant? {
    switch (a, b) {
    case let (x?, y?): return x < y ? x : y
    case let (x?, nil): return x
    case let (nil, y?): return y
    case (nil, nil): return nil
    }
}
