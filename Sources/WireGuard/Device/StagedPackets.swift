/// Packets a peer holds while it waits for a session (wireguard-go `queue.staged`): a bounded FIFO
/// that drops the oldest packet when full, so memory stays bounded however fast packets arrive.
struct StagedPackets {
    private var slots: [[UInt8]?]
    private var head = 0
    private(set) var count = 0

    init(capacity: Int = ProtocolConstants.stagedPacketLimit) {
        slots = [[UInt8]?](repeating: nil, count: capacity)
    }

    var isEmpty: Bool { count == 0 }

    /// Appends a copy of `packet`; returns true if the oldest packet was dropped to make room.
    mutating func append(_ packet: UnsafeRawBufferPointer) -> Bool {
        var dropped = false
        if count == slots.count {
            slots[head] = nil
            head = (head + 1) % slots.count
            count -= 1
            dropped = true
        }
        slots[(head + count) % slots.count] = Array(packet)
        count += 1
        return dropped
    }

    mutating func popFirst() -> [UInt8]? {
        guard count > 0 else { return nil }
        let packet = slots[head]
        slots[head] = nil
        head = (head + 1) % slots.count
        count -= 1
        return packet
    }

    mutating func removeAll() {
        while popFirst() != nil {}
    }
}
