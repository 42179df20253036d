/// The Internet checksum (RFC 1071): the 16-bit one's complement of the one's complement sum of the
/// data taken as big-endian 16-bit words.
///
/// `Checksum` is an accumulator. Feed it the pseudo-header, the header and the payload in order
/// (any split, odd lengths included), then read ``checksum`` for the field value to write, or check
/// ``isValid`` on data that already contains its checksum field.
///
/// ```swift
/// var sum = Checksum.pseudoHeader(source: src, destination: dst, protocol: .udp, length: datagram.count)
/// sum.add(datagram)
/// sum.isValid          // true for a correct received datagram
/// ```
///
/// The bulk loop reads 8 bytes per step and accumulates their two 32-bit halves into 64-bit sums, so
/// no carry is lost for inputs below 16 GiB; the carries are folded back once at the end (RFC 1071
/// §2(C) "deferred carries"). Because the one's complement sum is byte-order independent (RFC 1071
/// §2(B)), the loop adds words in the machine's native order and swaps once after folding.
public struct Checksum: Hashable, Sendable {
    /// Partial one's complement sum of native-order words, with end-around carries applied.
    @usableFromInline
    var accumulator: UInt64 = 0
    /// True when an odd number of bytes has been added, so the next byte starts at an odd position.
    @usableFromInline
    var odd = false

    /// An empty sum.
    @inlinable
    public init() {}

    /// The checksum field value for `bytes` alone: `Checksum.compute(header)` for an IPv4 header
    /// whose checksum field is zero.
    @inlinable
    public static func compute(_ bytes: UnsafeRawBufferPointer) -> UInt16 {
        var sum = Checksum()
        sum.add(bytes)
        return sum.checksum
    }

    /// Adds bytes that follow everything added so far.
    @inlinable
    public mutating func add(_ bytes: UnsafeRawBufferPointer) {
        let partial = Checksum.nativeSum(bytes)
        if odd {
            // These bytes sit at odd positions of the whole: swap the bytes of their 16-bit sum.
            add(native: UInt64(Checksum.fold(partial).byteSwapped))
        } else {
            add(native: partial)
        }
        if bytes.count & 1 == 1 { odd.toggle() }
    }

    /// Adds the sum of bytes that follow everything added so far, taken separately from their first
    /// byte on (a payload summed where it lies, apart from its header): the result equals adding those
    /// bytes here directly.
    @inlinable
    public mutating func add(_ following: Checksum) {
        let partial = UInt64(Checksum.fold(following.accumulator))
        add(native: odd ? UInt64(UInt16(truncatingIfNeeded: partial).byteSwapped) : partial)
        if following.odd { odd.toggle() }
    }

    /// Adds a 16-bit field (host-order value, as it will appear big-endian on the wire).
    @inlinable
    public mutating func add(_ word: UInt16) {
        let native = word.bigEndian
        add(native: UInt64(odd ? native.byteSwapped : native))
    }

    /// Adds a 32-bit field (host-order value, as it will appear big-endian on the wire).
    @inlinable
    public mutating func add(_ word: UInt32) {
        let native = word.bigEndian
        add(native: UInt64(odd ? native.byteSwapped : native))
    }

    /// Adds an IPv4 address.
    @inlinable
    public mutating func add(_ address: IPv4Address) { add(address.rawValue) }

    /// Adds an IPv6 address.
    @inlinable
    public mutating func add(_ address: IPv6Address) {
        add(UInt32(truncatingIfNeeded: address.high >> 32))
        add(UInt32(truncatingIfNeeded: address.high))
        add(UInt32(truncatingIfNeeded: address.low >> 32))
        add(UInt32(truncatingIfNeeded: address.low))
    }

    /// The one's complement sum folded to 16 bits, as a host-order value.
    @inlinable
    public var sum: UInt16 { UInt16(bigEndian: Checksum.fold(accumulator)) }

    /// The value to store in a checksum field: the one's complement of ``sum``.
    @inlinable
    public var checksum: UInt16 { ~sum }

    /// True when the data added included a correct checksum field: the sum is all ones (RFC 1071 §1).
    @inlinable
    public var isValid: Bool { sum == 0xFFFF }

    // MARK: Pseudo-headers

    /// The IPv4 pseudo-header of TCP and UDP (RFC 9293 §3.1, RFC 768): source, destination, zero,
    /// protocol, and the upper-layer length (header plus data, at most 65535).
    @inlinable
    public static func pseudoHeader(
        source: IPv4Address, destination: IPv4Address, protocol: IPProtocol, length: Int
    ) -> Checksum {
        var sum = Checksum()
        sum.add(source)
        sum.add(destination)
        sum.add(UInt16(`protocol`.rawValue))
        sum.add(UInt16(truncatingIfNeeded: length))
        return sum
    }

    /// The IPv6 pseudo-header of TCP, UDP and ICMPv6 (RFC 8200 §8.1): source, destination, 32-bit
    /// upper-layer packet length, three zero bytes and the next-header value of the upper layer.
    @inlinable
    public static func pseudoHeader(
        source: IPv6Address, destination: IPv6Address, protocol: IPProtocol, length: Int
    ) -> Checksum {
        var sum = Checksum()
        sum.add(source)
        sum.add(destination)
        sum.add(UInt32(truncatingIfNeeded: length))
        sum.add(UInt32(`protocol`.rawValue))
        return sum
    }

    // MARK: Incremental update

    /// The checksum after a 16-bit field covered by it changes from `old` to `new`, without
    /// re-reading the data: RFC 1624 eqn. 3, `HC' = ~(~HC + ~m + m')`.
    @inlinable
    public static func update(_ checksum: UInt16, replacing old: UInt16, with new: UInt16) -> UInt16 {
        let sum = UInt64(~checksum) + UInt64(~old) + UInt64(new)
        return ~fold(sum)
    }

    /// RFC 1624 eqn. 3 for a 32-bit field (an IPv4 address, a sequence number): both halves at once.
    @inlinable
    public static func update(_ checksum: UInt16, replacing old: UInt32, with new: UInt32) -> UInt16 {
        let sum = UInt64(~checksum)
            + UInt64(~UInt16(truncatingIfNeeded: old >> 16)) + UInt64(~UInt16(truncatingIfNeeded: old))
            + UInt64(UInt16(truncatingIfNeeded: new >> 16)) + UInt64(UInt16(truncatingIfNeeded: new))
        return ~fold(sum)
    }

    /// RFC 1624 eqn. 3 for a rewritten IPv4 address (NAT).
    @inlinable
    public static func update(_ checksum: UInt16, replacing old: IPv4Address, with new: IPv4Address) -> UInt16 {
        update(checksum, replacing: old.rawValue, with: new.rawValue)
    }

    /// RFC 1624 eqn. 3 for a rewritten IPv6 address.
    @inlinable
    public static func update(_ checksum: UInt16, replacing old: IPv6Address, with new: IPv6Address) -> UInt16 {
        var result = checksum
        result = update(result, replacing: UInt32(truncatingIfNeeded: old.high >> 32), with: UInt32(truncatingIfNeeded: new.high >> 32))
        result = update(result, replacing: UInt32(truncatingIfNeeded: old.high), with: UInt32(truncatingIfNeeded: new.high))
        result = update(result, replacing: UInt32(truncatingIfNeeded: old.low >> 32), with: UInt32(truncatingIfNeeded: new.low >> 32))
        result = update(result, replacing: UInt32(truncatingIfNeeded: old.low), with: UInt32(truncatingIfNeeded: new.low))
        return result
    }

    // MARK: Internals

    @inlinable
    mutating func add(native value: UInt64) {
        accumulator = Checksum.onesComplementAdd(accumulator, value)
    }

    /// Folds a 64-bit one's complement sum to 16 bits with end-around carries (RFC 1071 §4.1).
    @inlinable
    static func fold(_ value: UInt64) -> UInt16 {
        var sum = (value & 0xFFFF_FFFF) &+ (value >> 32)  // < 2^33
        sum = (sum & 0xFFFF) &+ (sum >> 16)              // < 2^18
        sum = (sum & 0xFFFF) &+ (sum >> 16)              // < 2^16 + 4
        sum = (sum & 0xFFFF) &+ (sum >> 16)
        return UInt16(truncatingIfNeeded: sum)
    }

    @inlinable
    static func onesComplementAdd(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return sum &+ (overflow ? 1 : 0)
    }

    /// The unfolded sum of `bytes` as native-order 16-bit words; a trailing odd byte is padded with a
    /// zero byte on the right (RFC 1071 §4.1).
    @inlinable
    static func nativeSum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        guard let base = bytes.baseAddress else { return 0 }
        let count = bytes.count
        var offset = 0
        // Four independent lanes of 32-bit halves in 64-bit accumulators: no carries are lost below
        // 2^32 steps, and the loop has no loop-carried flag dependency, so it pipelines and vectorises.
        var lane0: UInt64 = 0, lane1: UInt64 = 0, lane2: UInt64 = 0, lane3: UInt64 = 0
        while count - offset >= 32 {
            let a = (base + offset).loadUnaligned(as: UInt64.self)
            let b = (base + offset + 8).loadUnaligned(as: UInt64.self)
            let c = (base + offset + 16).loadUnaligned(as: UInt64.self)
            let d = (base + offset + 24).loadUnaligned(as: UInt64.self)
            lane0 &+= (a & 0xFFFF_FFFF) &+ (b & 0xFFFF_FFFF)
            lane1 &+= (a >> 32) &+ (b >> 32)
            lane2 &+= (c & 0xFFFF_FFFF) &+ (d & 0xFFFF_FFFF)
            lane3 &+= (c >> 32) &+ (d >> 32)
            offset += 32
        }
        while count - offset >= 8 {
            let a = (base + offset).loadUnaligned(as: UInt64.self)
            lane0 &+= a & 0xFFFF_FFFF
            lane1 &+= a >> 32
            offset += 8
        }
        if count - offset >= 4 {
            lane2 &+= UInt64((base + offset).loadUnaligned(as: UInt32.self))
            offset += 4
        }
        if count - offset >= 2 {
            lane3 &+= UInt64((base + offset).loadUnaligned(as: UInt16.self))
            offset += 2
        }
        if count - offset == 1 {
            let last = (base + offset).load(as: UInt8.self)
            lane3 &+= UInt64((UInt16(last) << 8).bigEndian)
        }
        // Each lane is < 2^62 for any realistic buffer; combine with end-around carry.
        return onesComplementAdd(onesComplementAdd(lane0, lane1), onesComplementAdd(lane2, lane3))
    }
}
