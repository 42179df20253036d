/// The node-wide supply of fixed-size chunks that TCP send and receive buffers (`ByteRing`) are built
/// from: a buffer holds chunks only while it holds data, and returns them as the data is read or
/// acknowledged, so an idle connection holds none.
///
/// The pool enforces the node's total: it hands out at most `limit / chunkSize` chunks. A receive
/// buffer that cannot get a chunk advertises a smaller window (and drops in-window data it cannot
/// store, which the sender retransmits); a send buffer that cannot get one accepts fewer bytes, so the
/// writer waits. Send buffers may not take the last `receiveReserve` chunks: a node whose applications
/// write without reading still receives, so two such ends cannot hold each other's windows closed; nor
/// may out-of-order data, so that the in-order bytes that fill its hole can always be stored (else
/// held out-of-order data and full send buffers could take every chunk and wait for each other).
///
/// Freed chunks are kept for reuse while there are no more of them than chunks in use, and at least
/// `cacheLimit` (so a bulk transfer, whose acknowledgments free what its next writes take, allocates
/// nothing per segment); the rest go back to the system allocator, so a node gone idle keeps only
/// `cacheLimit` chunks. Not thread-safe: one pool per `IPStack`, used on its thread.
public final class BufferChunkPool {
    /// Bytes per chunk (a power of two).
    public let chunkSize: Int
    /// Most bytes handed out at once.
    public let limit: Int
    /// `log2(chunkSize)`.
    let chunkShift: Int
    /// Most chunks handed out at once (`limit / chunkSize`, at least 1).
    let chunkLimit: Int
    /// Chunks only in-order received data may take.
    let receiveReserve: Int
    /// Chunks held by buffers now.
    public private(set) var chunksInUse = 0
    /// Highest `chunksInUse` seen.
    public private(set) var peakChunksInUse = 0
    /// Requests refused because the limit was reached.
    public private(set) var refusals = 0
    private var cache: [UnsafeMutableRawPointer] = []
    let cacheLimit: Int
    /// Chunk tables (`ByteRing`'s per-ring chunk index) kept for reuse, with their slot counts.
    private var tableCache: [(slots: Int, table: UnsafeMutablePointer<UnsafeMutableRawPointer?>)] = []
    static let tableCacheLimit = 32

    /// Creates a pool of `chunkSize`-byte chunks (rounded up to a power of two, at least 256) handing out
    /// at most `limit` bytes; `cacheLimit` freed chunks are kept for reuse.
    public init(chunkSize: Int = 4096, limit: Int = Int.max, cacheLimit: Int = 256) {
        var shift = 8
        while (1 << shift) < chunkSize && shift < 30 { shift += 1 }
        chunkShift = shift
        self.chunkSize = 1 << shift
        self.limit = limit
        chunkLimit = Swift.max(1, limit >> shift)
        receiveReserve = chunkLimit >= 8 ? chunkLimit / 8 : 0
        self.cacheLimit = Swift.max(0, cacheLimit)
    }

    deinit {
        for chunk in held { chunk.deallocate() }
        for chunk in cache { chunk.deallocate() }
        for entry in tableCache { entry.table.deallocate() }
    }

    /// Bytes held by buffers now.
    public var bytesInUse: Int { chunksInUse << chunkShift }

    /// Chunks a buffer could take now (`leavingReserve`: for send buffers and out-of-order data,
    /// which leave the receive reserve alone).
    @inline(__always)
    func availableChunks(leavingReserve: Bool) -> Int {
        Swift.max(0, chunkLimit - (leavingReserve ? receiveReserve : 0) - chunksInUse)
    }

    /// A chunk, or nil when the limit (less the receive reserve if `leavingReserve`) is reached.
    func take(leavingReserve: Bool) -> UnsafeMutableRawPointer? {
        guard availableChunks(leavingReserve: leavingReserve) > 0 else {
            refusals += 1
            return nil
        }
        chunksInUse += 1
        if chunksInUse > peakChunksInUse { peakChunksInUse = chunksInUse }
        if let chunk = cache.popLast() { return chunk }
        return UnsafeMutableRawPointer.allocate(byteCount: chunkSize, alignment: 16)
    }

    /// Returns a chunk taken from this pool (kept aside, still counted in use, while returns are held).
    func give(_ chunk: UnsafeMutableRawPointer) {
        if isHoldingReturns {
            held.append(chunk)
            return
        }
        chunksInUse -= 1
        let keep = Swift.max(cacheLimit, chunksInUse)
        if cache.count < keep {
            if cache.capacity == 0 { cache.reserveCapacity(cacheLimit) }
            cache.append(chunk)
        } else {
            chunk.deallocate()
            // What was kept for a working set that has since shrunk.
            if cache.count > keep { cache.removeLast().deallocate() }
        }
    }

    /// Freed chunks kept for reuse.
    public var cachedChunks: Int { cache.count }

    /// Chunks given back while returns are held (``holdReturns()``), not yet returned.
    private var held: [UnsafeMutableRawPointer] = []
    /// True from ``holdReturns()`` to ``releaseHeldReturns()``.
    public private(set) var isHoldingReturns = false

    /// From now until ``releaseHeldReturns()``, chunks that buffers give back are kept aside, unchanged:
    /// not cached, not handed out again, not freed. Memory that was lent out for reading without a
    /// copy (a segment's payload, gathered straight into an encrypted datagram, perhaps on another
    /// thread) stays valid even if the data is acknowledged or its connection closes meanwhile.
    public func holdReturns() {
        guard !isHoldingReturns else { return }
        isHoldingReturns = true
        if held.capacity == 0 { held.reserveCapacity(Swift.max(cacheLimit, 64)) }
    }

    /// Ends ``holdReturns()``: the chunks kept aside meanwhile are returned now.
    public func releaseHeldReturns() {
        guard isHoldingReturns else { return }
        isHoldingReturns = false
        for chunk in held { give(chunk) }
        held.removeAll(keepingCapacity: true)
    }

    /// Chunks kept aside by ``holdReturns()``.
    public var heldChunks: Int { held.count }

    /// A zeroed chunk table of `slots` entries.
    func takeTable(slots: Int) -> UnsafeMutablePointer<UnsafeMutableRawPointer?> {
        if let i = tableCache.lastIndex(where: { $0.slots == slots }) {
            let table = tableCache.remove(at: i).table
            return table
        }
        let table = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: slots)
        table.initialize(repeating: nil, count: slots)
        return table
    }

    /// Returns a table whose entries are all nil.
    func giveTable(_ table: UnsafeMutablePointer<UnsafeMutableRawPointer?>, slots: Int) {
        if tableCache.count < Self.tableCacheLimit {
            if tableCache.capacity == 0 { tableCache.reserveCapacity(Self.tableCacheLimit) }
            tableCache.append((slots, table))
        } else {
            table.deallocate()
        }
    }
}
