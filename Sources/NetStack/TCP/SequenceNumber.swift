/// A 32-bit TCP sequence number with modulo-2³² comparison (RFC 9293 §3.4).
///
/// Sequence numbers wrap, so `a < b` means "b is less than 2³¹ ahead of a". The ordering is not
/// transitive over the whole space, which is why this type is deliberately not `Comparable`.
public struct SequenceNumber: Hashable, Sendable, CustomStringConvertible {
    /// The value carried on the wire.
    public var rawValue: UInt32

    /// Wraps a wire value.
    public init(_ rawValue: UInt32) { self.rawValue = rawValue }

    public var description: String { String(rawValue) }

    /// The sequence number `count` octets after `lhs` (wrapping).
    @inline(__always)
    public static func + (lhs: SequenceNumber, count: Int) -> SequenceNumber {
        SequenceNumber(lhs.rawValue &+ UInt32(truncatingIfNeeded: count))
    }

    /// The sequence number `count` octets before `lhs` (wrapping).
    @inline(__always)
    public static func - (lhs: SequenceNumber, count: Int) -> SequenceNumber {
        SequenceNumber(lhs.rawValue &- UInt32(truncatingIfNeeded: count))
    }

    @inline(__always)
    public static func += (lhs: inout SequenceNumber, count: Int) { lhs = lhs + count }

    /// The signed distance from `rhs` to `lhs` (RFC 9293 §3.4: valid while |distance| < 2³¹).
    @inline(__always)
    public static func - (lhs: SequenceNumber, rhs: SequenceNumber) -> Int {
        Int(Int32(bitPattern: lhs.rawValue &- rhs.rawValue))
    }

    @inline(__always)
    public static func < (lhs: SequenceNumber, rhs: SequenceNumber) -> Bool { lhs - rhs < 0 }
    @inline(__always)
    public static func <= (lhs: SequenceNumber, rhs: SequenceNumber) -> Bool { lhs - rhs <= 0 }
    @inline(__always)
    public static func > (lhs: SequenceNumber, rhs: SequenceNumber) -> Bool { lhs - rhs > 0 }
    @inline(__always)
    public static func >= (lhs: SequenceNumber, rhs: SequenceNumber) -> Bool { lhs - rhs >= 0 }

    /// The later of two sequence numbers.
    @inline(__always)
    static func max(_ a: SequenceNumber, _ b: SequenceNumber) -> SequenceNumber { a > b ? a : b }
}
