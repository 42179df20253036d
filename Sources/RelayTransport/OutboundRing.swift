/// The bytes waiting for a slow relay: a fixed ring, filled with whole frames only. When a frame
/// does not fit, the caller drops it (and counts the drop): memory stays bounded however slow the
/// relay, and TCP inside the tunnel sees loss and slows down, as it would on a congested link.
final class OutboundRing {
    private let storage: UnsafeMutableRawBufferPointer
    private var head = 0  // next byte to write to the socket
    private var count = 0

    init(capacity: Int) {
        storage = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    var isEmpty: Bool { count == 0 }
    var bufferedCount: Int { count }
    var freeCount: Int { storage.count - count }

    /// Appends all of `pieces` (one frame, possibly split into header and body), or nothing when
    /// they do not fit. Returns whether they were queued.
    func append(_ pieces: UnsafeRawBufferPointer...) -> Bool {
        let total = pieces.reduce(0) { $0 + $1.count }
        guard total <= freeCount else { return false }
        for piece in pieces { copyIn(piece) }
        return true
    }

    private func copyIn(_ bytes: UnsafeRawBufferPointer) {
        var tail = (head + count) % storage.count
        var offset = 0
        while offset < bytes.count {
            let run = min(bytes.count - offset, storage.count - tail)
            UnsafeMutableRawBufferPointer(rebasing: storage[tail..<(tail + run)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + run)]))
            offset += run
            tail = (tail + run) % storage.count
            count += run
        }
    }

    /// The contiguous bytes at the front, to hand to one write.
    var front: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: storage[head..<(head + min(count, storage.count - head))])
    }

    /// Drops `written` bytes from the front after a write took them.
    func consume(_ written: Int) {
        precondition(written <= count)
        head = (head + written) % storage.count
        count -= written
        if count == 0 { head = 0 }
    }
}
