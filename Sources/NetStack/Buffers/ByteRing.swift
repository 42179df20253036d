/// A fixed-capacity ring of bytes: the storage behind every TCP send and receive buffer.
///
/// The capacity is chosen at creation and never grows, which is what gives the stack backpressure:
/// a full send ring makes `send` accept fewer bytes, a full receive ring closes the TCP window.
/// Bytes are committed at the tail and consumed at the head; `write(_:atOffset:)` can also place bytes
/// beyond the committed tail (out-of-order TCP data) without committing them.
///
/// Memory is allocated once in `init`; no operation allocates afterwards.
public final class ByteRing {
    private let storage: UnsafeMutableRawPointer
    /// How many bytes the ring can hold.
    public let capacity: Int
    private var head = 0
    /// Committed bytes, readable from the head.
    public private(set) var count = 0

    /// Creates an empty ring holding at most `capacity` bytes (at least 1).
    public init(capacity: Int) {
        self.capacity = Swift.max(1, capacity)
        storage = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    /// Space after the committed bytes.
    public var freeSpace: Int { capacity - count }
    public var isEmpty: Bool { count == 0 }

    @inline(__always)
    private func index(_ offset: Int) -> Int {
        let i = head + offset
        return i >= capacity ? i - capacity : i
    }

    /// Copies `bytes` to `offset` bytes past the committed tail without committing them.
    ///
    /// - Returns: how many bytes were stored (fewer than `bytes.count` if the ring has no room).
    @discardableResult
    public func write(_ bytes: UnsafeRawBufferPointer, atOffset offset: Int = 0) -> Int {
        guard offset >= 0, offset < freeSpace, let base = bytes.baseAddress else { return 0 }
        let n = Swift.min(bytes.count, freeSpace - offset)
        guard n > 0 else { return 0 }
        let start = index(count + offset)
        let first = Swift.min(n, capacity - start)
        (storage + start).copyMemory(from: base, byteCount: first)
        if first < n { storage.copyMemory(from: base + first, byteCount: n - first) }
        return n
    }

    /// Marks `n` bytes after the tail (previously written) as committed.
    public func commit(_ n: Int) {
        precondition(n >= 0 && n <= freeSpace, "ByteRing.commit beyond capacity")
        count += n
    }

    /// Writes and commits as many bytes of `bytes` as fit; returns how many.
    @discardableResult
    public func append(_ bytes: UnsafeRawBufferPointer) -> Int {
        let n = write(bytes, atOffset: 0)
        count += n
        return n
    }

    /// Copies up to `destination.count` committed bytes starting `offset` bytes after the head,
    /// without consuming them. Returns how many bytes were copied.
    @discardableResult
    public func peek(atOffset offset: Int, into destination: UnsafeMutableRawBufferPointer) -> Int {
        guard offset >= 0, offset < count, let base = destination.baseAddress else { return 0 }
        let n = Swift.min(destination.count, count - offset)
        let start = index(offset)
        let first = Swift.min(n, capacity - start)
        base.copyMemory(from: storage + start, byteCount: first)
        if first < n { (base + first).copyMemory(from: storage, byteCount: n - first) }
        return n
    }

    /// Drops up to `n` bytes from the head; returns how many were dropped.
    @discardableResult
    public func consume(_ n: Int) -> Int {
        let m = Swift.max(0, Swift.min(n, count))
        head = index(m)
        count -= m
        // The head is not rewound when the ring empties: bytes written beyond the tail (out-of-order
        // data) keep their positions.
        return m
    }

    /// Copies and consumes up to `destination.count` bytes from the head; returns how many.
    public func read(into destination: UnsafeMutableRawBufferPointer) -> Int {
        let n = peek(atOffset: 0, into: destination)
        consume(n)
        return n
    }

    /// Calls `body` with the committed bytes as at most two contiguous regions (head to end of storage,
    /// then start of storage), without copying. `body` returns how many bytes it used; those are consumed.
    public func consumeContiguous(_ body: (UnsafeRawBufferPointer) -> Int) -> Int {
        var total = 0
        while count > 0 {
            let run = Swift.min(count, capacity - head)
            let used = body(UnsafeRawBufferPointer(start: storage + head, count: run))
            let m = Swift.max(0, Swift.min(used, run))
            consume(m)
            total += m
            if m < run { break }
        }
        return total
    }
}
