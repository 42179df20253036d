import NetTestSupport
import Testing
import Wire
import WireGuard
@testable @_spi(Benchmarks) import WireNet

/// Two crypto batches in flight (``CryptoWorkers/launch()`` / ``CryptoWorkers/finishOldest(_:)``):
/// every job runs exactly once and each device's packets complete in the order it prepared them,
/// whatever the batch sizes and the owner's pauses.
@Suite("Pipelined crypto", .serialized)
struct PipelinedCryptoTests {
    /// Two devices with a session, `sender` → `receiver`.
    struct Session {
        let sender: WireGuardDevice
        let receiver: WireGuardDevice
        let senderEndpoint = IPEndpoint.v4(10, 252, 9, 1, port: 1)
        let receiverEndpoint = IPEndpoint.v4(10, 252, 9, 2, port: 2)
        let now = NetInstant(nanoseconds: 1_000_000_000)

        init() throws {
            let anchor = WallClockAnchor(instant: NetInstant(nanoseconds: 0), unixNanoseconds: 1_700_000_000_000_000_000)
            sender = WireGuardDevice(configuration: DeviceConfiguration(privateKey: PrivateKey(), wallClock: anchor))
            receiver = WireGuardDevice(configuration: DeviceConfiguration(privateKey: PrivateKey(), wallClock: anchor))
            try sender.addPeer(PeerConfiguration(publicKey: receiver.publicKey, endpoint: receiverEndpoint, allowedIPs: [IPPrefix("100.64.13.2/32")!]))
            try receiver.addPeer(PeerConfiguration(publicKey: sender.publicKey, endpoint: senderEndpoint, allowedIPs: [IPPrefix("100.64.13.1/32")!]))
            try sender.initiateHandshake(with: receiver.publicKey, now: now)
            var scratch = [UInt8](repeating: 0, count: 2048)
            let established = scratch.withUnsafeMutableBytes { buffer -> Bool in
                guard case .datagram(_, let initiation) = sender.poll(into: buffer, now: now),
                      case .reply(_, let response) = receiver.receive(buffer, length: initiation, from: senderEndpoint, now: now),
                      case .processed = sender.receive(buffer, length: response, from: receiverEndpoint, now: now)
                else { return false }
                return true
            }
            try #require(established, "handshake failed")
        }
    }

    /// The benchmark's pipeline (seal set k+2 while set k is opened, open set k+1 while set k+2 is
    /// sealed), with seeded batch sizes (some below ``CryptoWorkers/minimumSharedBatch``, so small
    /// batches run on the owner between shared ones), seeded packet sizes (AEAD times differ per job,
    /// so helpers finish out of order) and seeded owner pauses between steps (helpers run ahead, sleep
    /// and are woken). Checked: the sequence number each packet carries, in completion order, and the
    /// SHA-256 of all payload bytes received against all sent.
    @Test(arguments: [1, 2, 3])
    func twoBatchesInFlightKeepOrderAndEveryByte(threads: Int) throws {
        let session = try Session()
        let capacity = 64
        let maximumPacket = 1420
        let workers = try CryptoWorkers(threadCount: threads, batchCapacity: capacity)
        defer { workers.stop() }
        let sets = (0..<3).map { _ in
            (0..<capacity).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: 16 + maximumPacket + 64, alignment: 64) }
        }
        defer { sets.forEach { $0.forEach { $0.deallocate() } } }
        var schedule = PatternSource(seed: 0x15_2026 + UInt64(threads))
        var payloads = PatternSource(seed: 0xC0FFEE)
        func draw(_ range: ClosedRange<Int>) -> Int {
            let bytes = schedule.next(2)
            return range.lowerBound + (Int(bytes[0]) << 8 | Int(bytes[1])) % range.count
        }

        var counts = [0, 0, 0]
        var packetLengths = [[Int]](repeating: [Int](repeating: 0, count: capacity), count: 3)
        var datagramLengths = packetLengths
        var pending = [[PendingTransportData]](repeating: [], count: 3)
        var sentDigest = SHA256Digest()
        var receivedDigest = SHA256Digest()
        var nextToSend: UInt64 = 0
        var nextToReceive: UInt64 = 0
        var failures = 0

        func launchSeals(_ set: Int) throws {
            counts[set] = draw(1...capacity)
            for index in 0..<counts[set] {
                let buffer = sets[set][index]
                let packetLength = draw(28...maximumPacket)
                buffer.initializeMemory(as: UInt8.self, repeating: 0)
                try IPv4Header(source: IPv4Address(100, 64, 13, 1), destination: IPv4Address(100, 64, 13, 2),
                               protocol: .udp, payloadLength: packetLength - 20)
                    .emit(into: UnsafeMutableRawBufferPointer(rebasing: buffer[16..<(16 + packetLength)]))
                buffer.storeBytes(of: nextToSend.bigEndian, toByteOffset: 16 + 20, as: UInt64.self)
                nextToSend += 1
                let payload = payloads.next(packetLength - 28)
                UnsafeMutableRawBufferPointer(rebasing: buffer[(16 + 28)..<(16 + packetLength)]).copyBytes(from: payload)
                sentDigest.update(Array(buffer[(16 + 20)..<(16 + packetLength)]))
                guard case .seal(let job, _, let length) = session.sender.prepareSend(buffer, packetLength: packetLength, now: session.now)
                else { Issue.record("not sealed"); failures += 1; return }
                workers.submit(job)
                packetLengths[set][index] = packetLength
                datagramLengths[set][index] = length
            }
            workers.launch()
        }
        func finishSeals() {
            workers.finishOldest { _, job in
                if !job.succeeded { failures += 1 }
            }
        }
        func launchOpens(_ set: Int) {
            for index in 0..<counts[set] {
                guard case .open(let job, let data) = session.receiver.prepareReceive(
                    sets[set][index], length: datagramLengths[set][index], from: session.senderEndpoint, now: session.now)
                else { Issue.record("not prepared"); failures += 1; return }
                workers.submit(job)
                pending[set].append(data)
            }
            workers.launch()
        }
        func finishOpens(_ set: Int) {
            var expectedIndex = 0
            workers.finishOldest { index, job in
                if index != expectedIndex { failures += 1 }
                expectedIndex += 1
                guard case .packet(_, let range) = session.receiver.completeReceive(pending[set][index], opened: job, now: session.now),
                      range.count == packetLengths[set][index]
                else { failures += 1; return }
                let buffer = sets[set][index]
                let carried = UInt64(bigEndian: buffer.loadUnaligned(fromByteOffset: range.lowerBound + 20, as: UInt64.self))
                if carried != nextToReceive { failures += 1 }
                nextToReceive += 1
                receivedDigest.update(Array(buffer[(range.lowerBound + 20)..<range.upperBound]))
            }
            #expect(expectedIndex == counts[set])
            pending[set].removeAll(keepingCapacity: true)
        }
        func pause() {
            // Up to ~200 µs: long enough for an idle helper to give up spinning and sleep.
            let until = ContinuousClock.now + .microseconds(draw(0...200))
            while ContinuousClock.now < until {}
        }

        try launchSeals(0)
        try launchSeals(1)
        finishSeals()
        launchOpens(0)
        finishSeals()
        let steps = 120
        for step in 0..<steps {
            try launchSeals((step + 2) % 3)
            pause()
            finishOpens(step % 3)
            launchOpens((step + 1) % 3)
            pause()
            finishSeals()
        }
        finishOpens(steps % 3)

        #expect(failures == 0)
        #expect(workers.launchedCount == 0)
        #expect(nextToReceive == nextToSend - UInt64(counts[(steps + 1) % 3]), "all but the last sealed set were opened")
        // The last sealed set was never opened: open it outside the pipeline so both digests cover the same bytes.
        launchOpens((steps + 1) % 3)
        finishOpens((steps + 1) % 3)
        #expect(nextToReceive == nextToSend)
        #expect(receivedDigest.finish() == sentDigest.finish())
    }
}
