/// A received message (one datagram or one GRO super-datagram) not yet delivered to a batch.
struct InboundMessage {
    var buffer: UInt16
    var payload: UnsafeMutableRawPointer
    var length: Int
    /// GRO segment size; equal to `length` for a single datagram.
    var segmentSize: Int
    /// Offset of the next undelivered segment.
    var offset: Int
    var source: UDPEndpoint
    var localAddress: UDPEndpoint.Address?
    var interfaceIndex: UInt32
}

/// Received messages waiting for a ``ReceiveBatch`` with room, in arrival order. Each holds one
/// receive buffer, so the capacity (the number of receive buffers) is never exceeded.
struct InboundQueue: ~Copyable {
    private let storage: UnsafeMutablePointer<InboundMessage>
    let capacity: Int
    private var head = 0
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = capacity
        storage = .allocate(capacity: capacity)
    }

    deinit {
        storage.deallocate()
    }

    var isEmpty: Bool { count == 0 }
    var freeCount: Int { capacity - count }

    mutating func append(_ message: InboundMessage) {
        precondition(count < capacity, "more received messages than receive buffers")
        (storage + (head + count) % capacity).initialize(to: message)
        count += 1
    }

    /// Moves segments into `batch` until it is full or the queue is empty. Returns the number of
    /// datagrams and bytes delivered.
    mutating func deliver(into batch: inout ReceiveBatch) -> (datagrams: Int, bytes: Int) {
        var datagrams = 0
        var bytes = 0
        while count > 0 && batch.remainingCapacity > 0 {
            let message = storage + head
            let segment = max(message.pointee.segmentSize, 1)
            repeat {
                let offset = message.pointee.offset
                let length = min(segment, message.pointee.length - offset)
                batch.append(ReceivedDatagram(
                    bytes: UnsafeMutableRawBufferPointer(start: message.pointee.payload + offset, count: length),
                    source: message.pointee.source,
                    localAddress: message.pointee.localAddress,
                    interfaceIndex: message.pointee.interfaceIndex,
                    buffer: ReceiveBufferID(rawValue: message.pointee.buffer)))
                message.pointee.offset = offset + max(length, 1)
                datagrams += 1
                bytes += length
            } while message.pointee.offset < message.pointee.length && batch.remainingCapacity > 0
            guard message.pointee.offset >= message.pointee.length else { break }
            // The buffer is released with the batch that got its last segment.
            batch.heldBuffers.append(message.pointee.buffer)
            head = (head + 1) % capacity
            count -= 1
        }
        return (datagrams, bytes)
    }

    /// Removes every message, calling `release` with each buffer.
    mutating func removeAll(_ release: (UInt16) -> Void) {
        while count > 0 {
            release(storage[head].buffer)
            head = (head + 1) % capacity
            count -= 1
        }
    }
}
