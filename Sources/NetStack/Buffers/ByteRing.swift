/// A bounded ring of bytes built from chunks of a `BufferChunkPool`: the storage behind every TCP send
/// and receive buffer.
///
/// `capacity` is the most the ring holds (the per-connection limit), which gives the stack backpressure:
/// a full send ring makes `send` accept fewer bytes, a full receive ring closes the TCP window. Storage
/// is taken chunk by chunk as bytes arrive and returned as they are consumed, so an empty ring holds
/// no memory; when the pool is exhausted the ring stores fewer bytes (`freeSpace` says how many fit).
/// Bytes are committed at the tail and consumed at the head; `write(_:atOffset:)` can also place bytes
/// beyond the committed tail (out-of-order TCP data) without committing them.
///
/// Positions are absolute byte counts since creation; chunk `n` holds positions `n·chunkSize ..<
/// (n+1)·chunkSize` and sits in slot `n % slotCount` of the ring's chunk table, which is big enough
/// for every chunk that `[head, head + capacity)` touches.
public final class ByteRing {
    /// How many bytes the ring can hold.
    public let capacity: Int
    /// Committed bytes, readable from the head.
    public private(set) var count = 0
    /// Position of the first committed byte.
    private var head = 0
    /// End of the furthest byte written (committed or not): chunks up to it hold data.
    private var writtenEnd = 0
    private var pool: BufferChunkPool?
    /// A send buffer: leaves the pool's receive reserve alone.
    private let forSending: Bool
    private var shift = 0
    private var slotCount = 0
    private var table: UnsafeMutablePointer<UnsafeMutableRawPointer?>? = nil
    /// Allocated chunks lie in `firstChunk ..< endChunk` (chunk numbers), possibly with holes.
    private var firstChunk = 0
    private var endChunk = 0
    /// Chunks this ring holds.
    public private(set) var chunkCount = 0

    /// Creates an empty ring holding at most `capacity` bytes (at least 1), taking its chunks from
    /// `pool` (nil: a private unbounded pool, made when the first byte arrives). `forSending` rings
    /// leave the pool's receive reserve alone.
    public init(capacity: Int, pool: BufferChunkPool? = nil, forSending: Bool = false) {
        self.capacity = Swift.max(1, capacity)
        self.forSending = forSending
        if let pool { use(pool) }
    }

    deinit { releaseChunks(keepingThrough: head, all: true) }

    /// Takes chunks from `pool` from now on. Only while the ring holds no chunks.
    public func attach(to pool: BufferChunkPool) {
        precondition(chunkCount == 0, "ByteRing.attach with chunks held")
        use(pool)
    }

    private func use(_ pool: BufferChunkPool) {
        self.pool = pool
        shift = pool.chunkShift
        slotCount = ((capacity + pool.chunkSize - 1) >> shift) + 1
    }

    /// Bytes of memory the ring holds (its chunks).
    public var bytesHeld: Int { chunkCount << shift }

    /// Bytes that can be stored after the committed ones now: the capacity left, less what the pool
    /// cannot supply.
    public var freeSpace: Int {
        let room = capacity - count
        guard let pool else { return room }
        let tail = head + count
        var backed = 0
        if chunkCount > 0 {
            var c = tail >> shift
            if c < endChunk, table![c % slotCount] != nil { backed = ((c + 1) << shift) - tail }
            c += 1
            while c < endChunk && backed < room {
                if table![c % slotCount] != nil { backed += 1 << shift }
                c += 1
            }
        }
        if backed >= room { return room }
        let available = Swift.min(pool.availableChunks(leavingReserve: forSending), (room >> shift) + 2)
        return Swift.min(room, backed + (available << shift))
    }

    public var isEmpty: Bool { count == 0 }

    /// Bytes the pool behind this ring can still supply (its limit less what all buffers hold);
    /// `Int.max` without a pool.
    var poolRoom: Int {
        guard let pool else { return .max }
        return pool.availableChunks(leavingReserve: false) << shift
    }

    @inline(__always)
    private func chunk(_ number: Int) -> UnsafeMutableRawPointer {
        table![number % slotCount]!
    }

    /// Makes sure chunks back positions `start ..< end`, taking them from the pool; returns the end of
    /// the run backed from `start` (less than `end` when the pool ran out). Send rings and bytes that
    /// do not start at the committed tail (out-of-order data) leave the pool's receive reserve alone.
    private func back(from start: Int, to end: Int) -> Int {
        let leavingReserve = forSending || start != head + count
        guard start < end else { return end }
        if pool == nil { use(BufferChunkPool(cacheLimit: 4)) }
        let pool = pool!
        if table == nil { table = pool.takeTable(slots: slotCount) }
        let last = (end - 1) >> shift
        var c = start >> shift
        while c <= last {
            let slot = c % slotCount
            if table![slot] == nil {
                guard let fresh = pool.take(leavingReserve: leavingReserve) else {
                    if chunkCount == 0 { releaseTable() }
                    return Swift.max(start, c << shift)
                }
                table![slot] = fresh
                if chunkCount == 0 {
                    firstChunk = c
                    endChunk = c + 1
                } else {
                    firstChunk = Swift.min(firstChunk, c)
                    endChunk = Swift.max(endChunk, c + 1)
                }
                chunkCount += 1
            }
            c += 1
        }
        return end
    }

    private func releaseTable() {
        guard let table, let pool else { return }
        pool.giveTable(table, slots: slotCount)
        self.table = nil
        firstChunk = 0
        endChunk = 0
    }

    /// Returns the chunks before the head's chunk and those past the one holding position `end - 1`
    /// (all of them when `end` is the head, or `all`).
    private func releaseChunks(keepingThrough end: Int, all: Bool = false) {
        guard chunkCount > 0, let pool else { return }
        let keepFirst = all || end <= head ? endChunk : head >> shift
        let keepEnd = all || end <= head ? endChunk : ((end - 1) >> shift) + 1
        func free(_ range: Range<Int>) {
            for c in range {
                let slot = c % slotCount
                if let p = table![slot] {
                    pool.give(p)
                    table![slot] = nil
                    chunkCount -= 1
                }
            }
        }
        if keepFirst > firstChunk { free(firstChunk ..< Swift.min(keepFirst, endChunk)) }
        if keepEnd < endChunk { free(Swift.max(keepEnd, firstChunk) ..< endChunk) }
        if chunkCount == 0 {
            releaseTable()
        } else {
            firstChunk = Swift.max(firstChunk, keepFirst)
            endChunk = Swift.min(endChunk, keepEnd)
        }
    }

    /// Backs `count` bytes starting `offset` bytes past the committed tail with chunks, as far as the
    /// capacity and the pool allow; returns how many bytes from `offset` can now be written. Chunks
    /// reserved and then not written stay until `discard(beyondOffset:)`.
    public func reserve(atOffset offset: Int, count wanted: Int) -> Int {
        guard offset >= 0, offset < capacity - count, wanted > 0 else { return 0 }
        let start = head + count + offset
        let n = Swift.min(wanted, capacity - count - offset)
        return back(from: start, to: start + n) - start
    }

    /// Returns the chunks past `offset` bytes beyond the committed tail: the caller no longer needs the
    /// out-of-order bytes written there.
    public func discard(beyondOffset offset: Int) {
        let tail = head + count
        writtenEnd = Swift.max(tail, Swift.min(writtenEnd, tail + Swift.max(0, offset)))
        releaseChunks(keepingThrough: writtenEnd)
    }

    /// Copies `bytes` to `offset` bytes past the committed tail without committing them.
    ///
    /// - Returns: how many bytes were stored (fewer than `bytes.count` if the ring or the pool has no
    ///   room).
    @discardableResult
    public func write(_ bytes: UnsafeRawBufferPointer, atOffset offset: Int = 0) -> Int {
        guard offset >= 0, offset < capacity - count, let base = bytes.baseAddress, bytes.count > 0 else { return 0 }
        let start = head + count + offset
        let n = back(from: start, to: start + Swift.min(bytes.count, capacity - count - offset)) - start
        guard n > 0 else { return 0 }
        var done = 0
        while done < n {
            let position = start + done
            let within = position & ((1 << shift) - 1)
            let run = Swift.min(n - done, (1 << shift) - within)
            (chunk(position >> shift) + within).copyMemory(from: base + done, byteCount: run)
            done += run
        }
        writtenEnd = Swift.max(writtenEnd, start + n)
        return n
    }

    /// Marks `n` bytes after the tail (previously written) as committed.
    public func commit(_ n: Int) {
        precondition(n >= 0 && n <= capacity - count, "ByteRing.commit beyond capacity")
        precondition(n == 0 || head + count + n <= writtenEnd, "ByteRing.commit of bytes never written")
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
        let start = head + offset
        var done = 0
        while done < n {
            let position = start + done
            let within = position & ((1 << shift) - 1)
            let run = Swift.min(n - done, (1 << shift) - within)
            (base + done).copyMemory(from: chunk(position >> shift) + within, byteCount: run)
            done += run
        }
        return n
    }

    /// Calls `body` with the committed bytes `offset ..< offset + count` after the head, in order, as
    /// contiguous regions where they lie (one per chunk they touch), without copying or consuming them.
    /// Returns how many bytes it passed (fewer than `count` only when fewer are committed there).
    /// The regions stay valid until bytes before their end are consumed (their chunks then go back to
    /// the pool; `BufferChunkPool.holdReturns()` delays that).
    @discardableResult
    public func forEachRegion(atOffset offset: Int, count wanted: Int, _ body: (UnsafeRawBufferPointer) -> Void) -> Int {
        guard offset >= 0, offset < count, wanted > 0 else { return 0 }
        let n = Swift.min(wanted, count - offset)
        let start = head + offset
        var done = 0
        while done < n {
            let position = start + done
            let within = position & ((1 << shift) - 1)
            let run = Swift.min(n - done, (1 << shift) - within)
            body(UnsafeRawBufferPointer(start: chunk(position >> shift) + within, count: run))
            done += run
        }
        return n
    }

    /// Drops up to `n` bytes from the head; returns how many were dropped. Chunks left behind go back
    /// to the pool (bytes written beyond the tail, out-of-order data, keep theirs).
    @discardableResult
    public func consume(_ n: Int) -> Int {
        let m = Swift.max(0, Swift.min(n, count))
        guard m > 0 else { return 0 }
        head += m
        count -= m
        releaseChunks(keepingThrough: Swift.max(writtenEnd, head + count))
        return m
    }

    /// Copies and consumes up to `destination.count` bytes from the head; returns how many.
    public func read(into destination: UnsafeMutableRawBufferPointer) -> Int {
        let n = peek(atOffset: 0, into: destination)
        consume(n)
        return n
    }

    /// Calls `body` with the committed bytes as contiguous regions (one per chunk), without copying.
    /// `body` returns how many bytes it used; those are consumed, and a region not used up ends the
    /// calls.
    public func consumeContiguous(_ body: (UnsafeRawBufferPointer) -> Int) -> Int {
        var total = 0
        while count > 0 {
            let within = head & ((1 << shift) - 1)
            let run = Swift.min(count, (1 << shift) - within)
            let used = body(UnsafeRawBufferPointer(start: chunk(head >> shift) + within, count: run))
            let m = Swift.max(0, Swift.min(used, run))
            consume(m)
            total += m
            if m < run { break }
        }
        return total
    }
}
