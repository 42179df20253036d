/// A bounded FIFO of whole packets stored back to back in one `ByteRing` (2-byte length prefix each).
///
/// Used for the stack's non-TCP output (ICMP replies, RSTs, UDP datagrams): packets are built in a
/// scratch buffer and appended; the driver copies them out in order. Memory is fixed at creation.
struct PacketQueue {
    private let ring: ByteRing
    private(set) var count = 0

    init(capacity: Int) { ring = ByteRing(capacity: capacity) }

    var isEmpty: Bool { count == 0 }

    /// Appends a packet; false if it does not fit.
    mutating func push(_ packet: UnsafeRawBufferPointer) -> Bool {
        guard packet.count <= 0xFFFF, ring.freeSpace >= packet.count + 2 else { return false }
        var length = UInt16(packet.count).bigEndian
        withUnsafeBytes(of: &length) { _ = ring.append($0) }
        ring.append(packet)
        count += 1
        return true
    }

    /// Length of the oldest packet.
    var nextLength: Int? {
        guard count > 0 else { return nil }
        var length: UInt16 = 0
        withUnsafeMutableBytes(of: &length) { _ = ring.peek(atOffset: 0, into: $0) }
        return Int(UInt16(bigEndian: length))
    }

    /// Moves the oldest packet into `destination` if it fits; returns its length.
    mutating func pop(into destination: UnsafeMutableRawBufferPointer) -> Int? {
        guard let length = nextLength, length <= destination.count else { return nil }
        ring.peek(atOffset: 2, into: UnsafeMutableRawBufferPointer(rebasing: destination.prefix(length)))
        ring.consume(2 + length)
        count -= 1
        return length
    }

    /// Drops the oldest packet.
    mutating func dropFirst() {
        guard let length = nextLength else { return }
        ring.consume(2 + length)
        count -= 1
    }
}
