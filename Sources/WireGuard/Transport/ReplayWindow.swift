/// Sliding-window replay protection for transport counters (WireGuard paper §5.4.6, the RFC 6479
/// bitmap ring wireguard-go and Linux use): accepts each counter at most once, reordered packets
/// within ``windowSize`` of the greatest counter seen, and nothing older.
///
/// Storage is one fixed allocation made with the keypair; checking and updating never allocate.
public final class ReplayWindow {
    /// Bits per bitmap block.
    static let blockBits = 64
    /// Blocks in the ring (a power of two). 128 × 64 = 8192 bits, as wireguard-go.
    static let ringBlocks = 128
    /// Counters this far behind the greatest accepted one are still accepted once
    /// ((ringBlocks − 1) × 64 = 8128; one block is kept free so advancing never loses in-window bits).
    public static let windowSize: UInt64 = UInt64((ringBlocks - 1) * blockBits)

    private let blocks: UnsafeMutablePointer<UInt64>
    @exclusivity(unchecked) private var greatest: UInt64 = 0
    /// Counters at or above this are rejected (paper §6.1 `Reject-After-Messages`).
    public let limit: UInt64

    public init(limit: UInt64 = ProtocolConstants.rejectAfterMessages) {
        self.limit = limit
        blocks = .allocate(capacity: Self.ringBlocks)
        blocks.initialize(repeating: 0, count: Self.ringBlocks)
    }

    deinit { blocks.deallocate() }

    @inline(__always)
    private func position(_ counter: UInt64) -> (block: Int, mask: UInt64) {
        (Int(truncatingIfNeeded: counter >> 6) & (Self.ringBlocks - 1), 1 << (counter & 63))
    }

    /// Whether `counter` would be accepted, without recording it (a cheap check before decrypting).
    @inline(__always)
    public func wouldAccept(_ counter: UInt64) -> Bool {
        guard counter < limit else { return false }
        if counter > greatest { return true }
        guard greatest - counter <= Self.windowSize else { return false }
        let (block, mask) = position(counter)
        return blocks[block] & mask == 0
    }

    /// Records `counter` if it is acceptable; false for duplicates, counters older than the window and
    /// counters at or above the limit. Call only after the packet authenticated.
    @inline(__always)
    public func accept(_ counter: UInt64) -> Bool {
        guard counter < limit else { return false }
        if counter > greatest {
            let currentBlock = greatest >> 6
            let newBlock = counter >> 6
            let advance = min(newBlock - currentBlock, UInt64(Self.ringBlocks))
            var step: UInt64 = 1
            while step <= advance {
                blocks[Int(truncatingIfNeeded: currentBlock &+ step) & (Self.ringBlocks - 1)] = 0
                step += 1
            }
            greatest = counter
        } else if greatest - counter > Self.windowSize {
            return false
        }
        let (block, mask) = position(counter)
        let previous = blocks[block]
        blocks[block] = previous | mask
        return previous & mask == 0
    }
}
