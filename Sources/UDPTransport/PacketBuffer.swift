/// A pooled send buffer: `headroom` bytes, room for one datagram, `tailroom` bytes, allocated once
/// by the transport and handed out by index.
///
/// The datagram is the byte range `dataStart ..< dataStart + dataCount` of ``storage``. It starts
/// after the headroom so that WireGuard can build its message in place: write the inner packet at
/// ``dataStart``, then move ``dataStart`` back over the 16-byte data-message header and grow
/// ``dataCount`` over the padding and the 16-byte tag that the tailroom leaves space for
/// (WireGuard paper §5.4.6).
///
/// A buffer belongs to its holder until it is appended to a ``SendBatch`` and sent (the transport
/// then takes it back once the kernel is done with it) or returned with
/// ``UDPTransport/releaseSendBuffer(_:)``. After the transport is closed its memory is gone.
public struct PacketBuffer {
    /// Index of the buffer in the transport's send pool.
    public let index: UInt32
    /// The whole buffer: headroom, datagram space and tailroom.
    public let storage: UnsafeMutableRawBufferPointer
    /// Offset of the first datagram byte in ``storage``.
    public var dataStart: Int
    /// Length of the datagram.
    public var dataCount: Int

    init(index: UInt32, storage: UnsafeMutableRawBufferPointer, headroom: Int) {
        self.index = index
        self.storage = storage
        self.dataStart = headroom
        self.dataCount = 0
    }

    /// The datagram bytes (`dataStart ..< dataStart + dataCount` of ``storage``).
    public var datagram: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: storage[dataStart ..< dataStart + dataCount])
    }

    /// Copies `bytes` to ``dataStart`` and sets ``dataCount``; false (and no change) if they do not fit.
    @discardableResult
    public mutating func setDatagram(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count <= storage.count - dataStart else { return false }
        if let source = bytes.baseAddress, let base = storage.baseAddress {
            (base + dataStart).copyMemory(from: source, byteCount: bytes.count)
        }
        dataCount = bytes.count
        return true
    }
}

/// The send pool: `count` buffers of `headroom + payloadCapacity + tailroom` bytes in one
/// allocation, and a stack of free indices. Owned by one thread (the transport's).
final class PacketBufferPool {
    let count: Int
    let headroom: Int
    let stride: Int
    private let memory: UnsafeMutableRawPointer
    private let freeIndices: UnsafeMutablePointer<UInt32>
    private(set) var freeCount: Int

    init(count: Int, payloadCapacity: Int, headroom: Int, tailroom: Int) {
        precondition(count > 0 && count <= Int(UInt32.max) && payloadCapacity > 0)
        self.count = count
        self.headroom = headroom
        // 64-byte strides keep every buffer on its own cache lines.
        self.stride = (headroom + payloadCapacity + tailroom + 63) & ~63
        memory = UnsafeMutableRawPointer.allocate(byteCount: count * stride, alignment: 64)
        freeIndices = .allocate(capacity: count)
        for slot in 0 ..< count { freeIndices[slot] = UInt32(count - 1 - slot) }
        freeCount = count
    }

    deinit {
        memory.deallocate()
        freeIndices.deallocate()
    }

    func buffer(at index: UInt32) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: memory + Int(index) * stride, count: stride)
    }

    func acquire() -> PacketBuffer? {
        guard freeCount > 0 else { return nil }
        freeCount -= 1
        let index = freeIndices[freeCount]
        return PacketBuffer(index: index, storage: buffer(at: index), headroom: headroom)
    }

    func release(_ index: UInt32) {
        precondition(Int(index) < count && freeCount < count, "send buffer released twice")
        freeIndices[freeCount] = index
        freeCount += 1
    }
}
