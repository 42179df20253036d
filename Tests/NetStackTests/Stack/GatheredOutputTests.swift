import Testing
import Wire
@testable import NetStack

/// `IPStack.nextOutgoingPacket(into:gathering:now:)`: TCP payloads left in the send buffer, handed
/// out as runs that stay valid until `releaseGatheredPayloads()` (issue 15, the zero-copy write path).
@Suite struct GatheredOutputTests {
    /// Bytes whose value depends on their position, so a run read from the wrong place shows.
    static func pattern(_ count: Int, from start: Int) -> [UInt8] {
        (start..<(start + count)).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ $0 >> 8) }
    }

    /// Writes `total` bytes of the pattern in writes of seeded odd sizes (so segments start anywhere
    /// in the ring's chunks) while B reads everything; returns what B received.
    static func transfer(_ pair: StackPair, total: Int, seed: UInt64) throws -> [UInt8] {
        let (client, server) = try pair.connect()
        var random = SeededRandom(seed: seed)
        var written = 0
        var received: [UInt8] = []
        pair.run(until: pair.now + .seconds(30)) {
            while written < total {
                let size = min(total - written, 1 + Int(random.next() % 9000))
                let chunk = pattern(size, from: written)
                let n = chunk.withUnsafeBytes { (try? pair.a.send(client, $0)) ?? 0 }
                if n == 0 { break }
                written += n
            }
            while true {
                let n = (try? pair.b.receive(server) { bytes in received.append(contentsOf: bytes); return bytes.count }) ?? 0
                if n == 0 { break }
            }
        }
        return received
    }

    /// The same seeded transfer twice, once with whole packets and once with gathered payloads made
    /// whole by the caller: every packet is the same, byte for byte (headers, checksums, payload),
    /// with chunks larger than a segment (payload in one or two runs) and smaller (more runs than a
    /// `GatherList` holds: copied into the buffer instead).
    @Test(arguments: [512, 4096])
    func gatheredPacketsEqualWholePackets(chunkSize: Int) throws {
        func makePair() -> StackPair {
            StackPair(stack: { $0.tcpBufferChunkSize = chunkSize })
        }
        let whole = makePair()
        whole.aLog = []
        let gathered = makePair()
        gathered.aGathers = true
        gathered.aLog = []
        let total = 400_000
        let expected = Self.pattern(total, from: 0)
        #expect(try Self.transfer(whole, total: total, seed: 15) == expected)
        #expect(try Self.transfer(gathered, total: total, seed: 15) == expected)
        #expect(gathered.aLog! == whole.aLog!)
        #expect(gathered.aLog!.count > 250)
        if chunkSize > 1500 {
            // Every data segment went out gathered (one run, or two across a chunk boundary).
            #expect(gathered.gatheredByA > 250, "\(gathered.gatheredByA) of \(gathered.sentByA) packets gathered")
        } else {
            // A 1448-byte payload touches three or four 512-byte chunks: gathered from three, copied
            // from four (more runs than a GatherList holds).
            #expect(gathered.gatheredByA > 10 && gathered.gatheredByA < 200, "\(gathered.gatheredByA) of \(gathered.sentByA) packets gathered")
        }
        #expect(gathered.a.tcpBufferPool.heldChunks == 0)
    }

    /// While runs are out, acknowledged data gives no chunk back to the pool: the runs' bytes stay as
    /// they were even after the ACK and after the connection is aborted and freed; releasing returns
    /// the chunks.
    @Test func runsStayValidUntilReleasedThoughAcknowledgedAndFreed() throws {
        let pair = StackPair()
        let (client, server) = try pair.connect()
        let data = Self.pattern(60_000, from: 7)
        let accepted = data.withUnsafeBytes { (try? pair.a.send(client, $0)) ?? 0 }
        #expect(accepted == data.count)
        let pool = pair.a.tcpBufferPool
        let inUseBefore = pool.chunksInUse

        // Take A's segments as an engine would, keeping the runs; send whole copies to B.
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        defer { buffer.deallocate() }
        var runs: [(bytes: UnsafeRawBufferPointer, expected: [UInt8])] = []
        var payload = GatherList()
        while let n = pair.a.nextOutgoingPacket(into: buffer, gathering: &payload, now: pair.now) {
            for index in 0..<payload.count {
                let run = payload[index]
                runs.append((run.bytes, Array(run.bytes)))
            }
            payload.copy(into: buffer)
            let packet = Array(UnsafeRawBufferPointer(rebasing: buffer.prefix(n)))
            packet.withUnsafeBytes { pair.b.receive($0, now: pair.now) }
        }
        #expect(!runs.isEmpty)
        #expect(pool.isHoldingReturns)
        // B acknowledges everything (reading it first, so its window stays open); A takes the ACKs.
        pair.drain(pair.b, server)
        pair.b.handleTimers(now: pair.now + .milliseconds(200))
        while let n = pair.b.nextOutgoingPacket(into: buffer, now: pair.now + .milliseconds(200)) {
            pair.a.receive(UnsafeRawBufferPointer(rebasing: buffer.prefix(n)), now: pair.now + .milliseconds(200))
        }
        #expect(pool.heldChunks > 0, "the acknowledged data's chunks are held, not returned")
        #expect(pool.chunksInUse == inUseBefore)
        pair.a.abort(client)
        while pair.a.nextOutgoingPacket(into: buffer, now: pair.now + .milliseconds(200)) != nil {}
        for run in runs { #expect(Array(run.bytes) == run.expected) }

        pair.a.releaseGatheredPayloads()
        #expect(!pool.isHoldingReturns)
        #expect(pool.heldChunks == 0)
        #expect(pool.chunksInUse < inUseBefore)
    }
}
