/// A TAI64N timestamp (12 bytes: big-endian seconds since 1970 TAI + 2⁶², then big-endian nanoseconds),
/// sent encrypted in every handshake initiation so the responder can reject replays
/// (WireGuard paper §5.1, §5.4.2).
public struct TAI64N: Comparable, Sendable, CustomStringConvertible {
    /// Encoded length.
    public static let size = 12
    /// 2⁶² + 10: TAI64 label for the Unix epoch plus the 10 s TAI−UTC offset of 1970, as wireguard-go uses.
    static let base: UInt64 = 0x4000_0000_0000_000A
    /// Nanoseconds are rounded down to a multiple of 2²⁴ ns (~16.8 ms) so that initiations do not
    /// leak a precise clock (wireguard-go tai64n `whitenerMask`).
    static let whitenerMask: UInt32 = 0x100_0000 - 1

    public var seconds: UInt64
    public var nanoseconds: UInt32

    public init(seconds: UInt64, nanoseconds: UInt32) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    /// The (whitened) timestamp of a wall-clock time given as Unix seconds and nanoseconds.
    public init(unixSeconds: Int64, nanoseconds: UInt32) {
        seconds = Self.base &+ UInt64(bitPattern: unixSeconds)
        self.nanoseconds = nanoseconds & ~Self.whitenerMask
    }

    /// Reads the 12 encoded bytes.
    public init(bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count >= Self.size)
        seconds = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        nanoseconds = UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
    }

    /// Writes the 12 encoded bytes.
    public func write(to bytes: UnsafeMutableRawBufferPointer) {
        precondition(bytes.count >= Self.size)
        bytes.storeBytes(of: seconds.bigEndian, toByteOffset: 0, as: UInt64.self)
        bytes.storeBytes(of: nanoseconds.bigEndian, toByteOffset: 8, as: UInt32.self)
    }

    /// Byte-wise order, which is the order wireguard-go's `After` uses.
    public static func < (a: TAI64N, b: TAI64N) -> Bool {
        (a.seconds, a.nanoseconds) < (b.seconds, b.nanoseconds)
    }

    public var description: String { "TAI64N(\(Int64(bitPattern: seconds &- Self.base)).\(nanoseconds))" }
}
