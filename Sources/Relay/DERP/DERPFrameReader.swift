/// Splits the byte stream from a relay into frames, in one fixed buffer it owns.
///
/// The I/O layer reads into ``writableSpace()`` and reports the count with ``didWrite(_:)``; then
/// ``nextFrame()`` returns each complete frame as a view into the buffer, valid until the next call on
/// the reader. Memory is bounded by the capacity (one maximal packet frame plus header): frames of
/// types a client never needs that are larger than that stream past and are skipped, and frames over
/// ``DERPProtocol/maxInfoLength`` are rejected as tailscale's client rejects them.
public final class DERPFrameReader {
    private let storage: UnsafeMutableRawBufferPointer
    private var readIndex = 0
    private var writeIndex = 0
    /// Bytes of an oversized ignorable frame still to discard as they arrive.
    private var skipRemaining = 0

    /// Frames skipped because they were larger than the buffer (types a client ignores).
    public private(set) var oversizedFramesSkipped = 0

    /// Free space below which the reader moves a partial frame to the front before the next read
    /// (implementation choice: one TLS record, so most reads land without a move).
    static let compactionThreshold = 16 << 10

    /// - Parameter capacity: bytes of the buffer; at least one maximal packet frame.
    public init(capacity: Int = DERPProtocol.frameHeaderLength + DERPProtocol.maxBufferedFrameLength) {
        precondition(capacity >= DERPProtocol.frameHeaderLength + DERPProtocol.maxBufferedFrameLength)
        storage = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    /// Bytes received but not yet returned as frames.
    public var bufferedCount: Int { writeIndex - readIndex }

    /// The space to read the next bytes into; never empty while a frame is incomplete. Moves the
    /// buffered tail of a partial frame to the front when little room is left.
    public func writableSpace() -> UnsafeMutableRawBufferPointer {
        if storage.count - writeIndex < Self.compactionThreshold || readIndex == writeIndex {
            compact()
        }
        return UnsafeMutableRawBufferPointer(rebasing: storage[writeIndex...])
    }

    /// Records that `count` bytes were written at the start of ``writableSpace()``.
    public func didWrite(_ count: Int) {
        precondition(count >= 0 && writeIndex + count <= storage.count)
        writeIndex += count
    }

    /// The next complete frame, or nil when more bytes are needed.
    /// - Throws: ``DERPError/frameTooLong(type:length:limit:)`` for a frame over the limit of its
    ///   type; the stream cannot be resynchronised after that, so the connection must close.
    public func nextFrame() throws(DERPError) -> DERPFrame? {
        while true {
            if skipRemaining > 0 {
                let discard = min(skipRemaining, writeIndex - readIndex)
                readIndex += discard
                skipRemaining -= discard
                if skipRemaining > 0 { return nil }
            }
            let available = writeIndex - readIndex
            guard available >= DERPProtocol.frameHeaderLength else { return nil }
            let header = UnsafeRawBufferPointer(rebasing: storage[readIndex..<writeIndex])
            let type = DERPFrameType(rawValue: header[0])
            let length = Int(header.bigEndianUInt32(at: 1))
            if length > DERPProtocol.maxInfoLength {
                throw .frameTooLong(type: type, length: length, limit: DERPProtocol.maxInfoLength)
            }
            if length > DERPProtocol.maxBufferedFrameLength {
                switch type {
                case .serverKey, .serverInfo, .receivePacket, .ping, .pong, .keepAlive, .peerGone, .restarting:
                    throw .frameTooLong(type: type, length: length, limit: DERPProtocol.maxBufferedFrameLength)
                default:
                    readIndex += DERPProtocol.frameHeaderLength
                    skipRemaining = length
                    oversizedFramesSkipped += 1
                    continue
                }
            }
            let total = DERPProtocol.frameHeaderLength + length
            guard available >= total else { return nil }
            let payload = UnsafeRawBufferPointer(rebasing: storage[(readIndex + DERPProtocol.frameHeaderLength)..<(readIndex + total)])
            readIndex += total
            return DERPFrame(type: type, payload: payload)
        }
    }

    private func compact() {
        guard readIndex > 0 else { return }
        let count = writeIndex - readIndex
        if count > 0, let base = storage.baseAddress {
            base.copyMemory(from: base + readIndex, byteCount: count)
        }
        readIndex = 0
        writeIndex = count
    }
}
