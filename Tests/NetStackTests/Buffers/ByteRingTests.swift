import Testing
@testable import NetStack

/// `ByteRing` over `BufferChunkPool`: storage follows the data, chunk by chunk, within the ring's
/// capacity and the pool's limit.
@Suite("Chunked byte rings and the node's chunk pool")
struct ByteRingTests {
    /// Bytes `start ..< start + count` of a test stream.
    func bytes(_ count: Int, from start: Int = 0) -> [UInt8] {
        (start..<(start + count)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 8) }
    }

    @Test("an empty ring holds no chunks; bytes take chunks as they arrive and give them back as they are consumed")
    func storageFollowsData() {
        let pool = BufferChunkPool(chunkSize: 256, limit: 1 << 20)
        let ring = ByteRing(capacity: 4096, pool: pool)
        #expect(ring.chunkCount == 0 && pool.chunksInUse == 0)
        let data = bytes(1000)
        #expect(data.withUnsafeBytes { ring.append($0) } == 1000)
        #expect(ring.chunkCount == 4 && pool.chunksInUse == 4)
        var out = [UInt8](repeating: 0, count: 600)
        #expect(out.withUnsafeMutableBytes { ring.read(into: $0) } == 600)
        #expect(out == Array(data[..<600]))
        // Positions 600..<1000 lie in chunks 2 and 3.
        #expect(ring.chunkCount == 2 && pool.chunksInUse == 2)
        #expect(out.withUnsafeMutableBytes { ring.read(into: $0) } == 400)
        #expect(Array(out[..<400]) == Array(data[600...]))
        #expect(ring.chunkCount == 0 && pool.chunksInUse == 0)
    }

    @Test("bytes cross chunk boundaries and wrap around the chunk table intact")
    func wrapsIntact() {
        let pool = BufferChunkPool(chunkSize: 256, limit: 1 << 20)
        let ring = ByteRing(capacity: 1000, pool: pool)
        var written = 0
        var read = 0
        var out = [UInt8](repeating: 0, count: 333)
        for round in 0..<50 {
            let chunk = bytes(257 + round % 5, from: written)
            written += chunk.withUnsafeBytes { ring.append($0) }
            if ring.count > 500 {
                let n = out.withUnsafeMutableBytes { ring.read(into: $0) }
                #expect(Array(out[..<n]) == bytes(n, from: read))
                read += n
            }
            #expect(ring.count <= 1000)
            #expect(pool.chunksInUse <= (1000 + 255) / 256 + 1)
        }
        // In-place reads see one chunk's run at a time and consume what they use.
        var seen: [UInt8] = []
        _ = ring.consumeContiguous { region in
            seen.append(contentsOf: region)
            return region.count
        }
        #expect(seen == bytes(written - read, from: read))
        #expect(pool.chunksInUse == 0)
    }

    @Test("out-of-order bytes written past the tail keep their chunks until committed or discarded")
    func outOfOrderBytes() {
        let pool = BufferChunkPool(chunkSize: 256, limit: 1 << 20)
        let ring = ByteRing(capacity: 4096, pool: pool)
        let late = bytes(100, from: 1000)
        #expect(late.withUnsafeBytes { ring.write($0, atOffset: 1000) } == 100)
        // Positions 1000..<1100 lie in chunks 3 and 4.
        #expect(ring.count == 0 && ring.chunkCount == 2)
        // Discarding beyond 1100 keeps them.
        ring.discard(beyondOffset: 1100)
        #expect(ring.chunkCount == 2)
        let early = bytes(1000)
        #expect(early.withUnsafeBytes { ring.write($0, atOffset: 0) } == 1000)
        ring.commit(1100)
        var out = [UInt8](repeating: 0, count: 1100)
        #expect(out.withUnsafeMutableBytes { ring.read(into: $0) } == 1100)
        #expect(out == bytes(1100))
        #expect(ring.chunkCount == 0)
        // Bytes written out of order and then given up (discard) return their chunks.
        #expect(late.withUnsafeBytes { ring.write($0, atOffset: 2000) } == 100)
        #expect(ring.chunkCount == 1)
        ring.discard(beyondOffset: 0)
        #expect(ring.chunkCount == 0 && pool.chunksInUse == 0)
    }

    @Test("the pool's limit bounds what rings store and what they report as free; send rings leave the receive reserve")
    func poolLimit() {
        // 16 chunks of 256 bytes; 2 reserved for receive rings.
        let pool = BufferChunkPool(chunkSize: 256, limit: 4096)
        let send = ByteRing(capacity: 1 << 20, pool: pool, forSending: true)
        let receive = ByteRing(capacity: 1 << 20, pool: pool)
        #expect(send.freeSpace == 14 * 256)
        #expect(receive.freeSpace == 16 * 256)
        let data = bytes(8192)
        #expect(data.withUnsafeBytes { send.append($0) } == 14 * 256)
        #expect(send.freeSpace == 0)
        #expect(receive.freeSpace == 2 * 256)
        #expect(receive.reserve(atOffset: 0, count: 8192) == 512)
        #expect(data.withUnsafeBytes { receive.write($0, atOffset: 0) } == 512)
        receive.commit(512)
        #expect(pool.chunksInUse == 16 && pool.bytesInUse == 4096)
        #expect(receive.freeSpace == 0)
        // Acknowledged send data frees chunks for both.
        send.consume(1024)
        #expect(pool.chunksInUse == 12)
        #expect(receive.freeSpace == 4 * 256)
        #expect(pool.peakChunksInUse == 16)
    }

    @Test("freed chunks are kept while the working set needs them, and only cacheLimit once it is gone")
    func cacheFollowsWorkingSet() {
        let pool = BufferChunkPool(chunkSize: 256, limit: 1 << 20, cacheLimit: 4)
        let ring = ByteRing(capacity: 1 << 16, pool: pool)
        let data = bytes(100 * 256)
        #expect(data.withUnsafeBytes { ring.append($0) } == 100 * 256)
        #expect(pool.chunksInUse == 100)
        // Half acknowledged: 50 in use, 50 kept for the next writes.
        ring.consume(50 * 256)
        #expect(pool.chunksInUse == 50 && pool.cachedChunks == 50)
        // Written again from the cache.
        #expect(data.withUnsafeBytes { ring.append(UnsafeRawBufferPointer(rebasing: $0.prefix(50 * 256))) } == 50 * 256)
        #expect(pool.chunksInUse == 100 && pool.cachedChunks == 0)
        // All acknowledged: the node is idle and keeps cacheLimit chunks.
        ring.consume(100 * 256)
        #expect(pool.chunksInUse == 0 && pool.cachedChunks == 4)
    }

    @Test("a ring's chunks go back to the pool when it is released")
    func releasedWithRing() {
        let pool = BufferChunkPool(chunkSize: 256, limit: 1 << 20)
        do {
            let ring = ByteRing(capacity: 4096, pool: pool)
            _ = bytes(3000).withUnsafeBytes { ring.append($0) }
            #expect(pool.chunksInUse == 12)
        }
        #expect(pool.chunksInUse == 0)
    }
}
