import Foundation
import NetTestSupport
import Testing
import Wire
import WireGuard
@testable @_spi(Benchmarks) import WireNet

/// The engine's AEAD on several threads: every byte still arrives, in order, and the steady-state
/// data path allocates nothing per packet.
@Suite("Parallel crypto", .serialized)
struct ParallelCryptoTests {
    @Test(arguments: [1, 2, 4])
    func tcpTransferArrivesInOrderWithThisManyCryptoThreads(threads: Int) async throws {
        var options = Node.Options()
        options.cryptoThreads = threads
        let pair = try await NodePair.start(options: options)
        defer { Task { await pair.close() } }
        let size = 8 << 20
        let listener = try await pair.server.listen(tcp: 9100)
        let serverTask = Task {
            guard let stream = try await listener.accept() else { return [UInt8]() }
            var digest = SHA256Digest()
            while let chunk = try await stream.read() { digest.update(chunk) }
            let hash = digest.finish()
            try await stream.write(hash)
            try await stream.shutdownWrite()
            stream.close()
            return hash
        }
        let stream = try await pair.client.dial(tcp: NodePair.serverAddress, port: 9100)
        var source = PatternSource(seed: UInt64(threads))
        var digest = SHA256Digest()
        var sent = 0
        while sent < size {
            let chunk = source.next(min(200_000, size - sent))
            digest.update(chunk)
            try await stream.write(chunk)
            sent += chunk.count
        }
        try await stream.shutdownWrite()
        var reply: [UInt8] = []
        while let chunk = try await stream.read() { reply += chunk }
        let expected = digest.finish()
        #expect(reply == expected)
        #expect(try await serverTask.value == expected)
        stream.close()
        listener.close()
    }

    @Test func anOutOfRangeCryptoThreadCountIsRefusedWithAClearError() async throws {
        var options = Node.Options()
        options.cryptoThreads = 0
        let node = Node(configuration: NodeConfiguration(privateKey: PrivateKey(), addresses: [IPPrefix("100.64.11.1/32")!]),
                        options: options, logger: NodePair.quietLogger)
        await #expect(throws: NodeError.self) { try await node.start() }
        await node.close()
    }

    @Test func helpersRunTheirShareOfManyBatchesAndEveryJobExactlyOnce() throws {
        let workers = try CryptoWorkers(threadCount: 3, batchCapacity: 128)
        defer { workers.stop() }
        let sender = WireGuardDevice(configuration: DeviceConfiguration(
            privateKey: PrivateKey(), wallClock: WallClockAnchor(instant: NetInstant(nanoseconds: 0), unixNanoseconds: 1_700_000_000_000_000_000)))
        let receiver = WireGuardDevice(configuration: DeviceConfiguration(
            privateKey: PrivateKey(), wallClock: WallClockAnchor(instant: NetInstant(nanoseconds: 0), unixNanoseconds: 1_700_000_000_000_000_000)))
        let now = NetInstant(nanoseconds: 1_000_000_000)
        let senderEndpoint = IPEndpoint.v4(10, 251, 8, 1, port: 1)
        let receiverEndpoint = IPEndpoint.v4(10, 251, 8, 2, port: 2)
        try sender.addPeer(PeerConfiguration(publicKey: receiver.publicKey, endpoint: receiverEndpoint, allowedIPs: [IPPrefix("100.64.12.2/32")!]))
        try receiver.addPeer(PeerConfiguration(publicKey: sender.publicKey, endpoint: senderEndpoint, allowedIPs: [IPPrefix("100.64.12.1/32")!]))
        try sender.initiateHandshake(with: receiver.publicKey, now: now)
        var scratch = [UInt8](repeating: 0, count: 2048)
        scratch.withUnsafeMutableBytes { buffer in
            guard case .datagram(_, let initiation) = sender.poll(into: buffer, now: now),
                  case .reply(_, let response) = receiver.receive(buffer, length: initiation, from: senderEndpoint, now: now),
                  case .processed = sender.receive(buffer, length: response, from: receiverEndpoint, now: now)
            else { Issue.record("handshake failed"); return }
        }
        let packetSize = 600
        let buffers = (0..<128).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: 16 + packetSize + 64, alignment: 64) }
        defer { buffers.forEach { $0.deallocate() } }
        var sequence = 0
        for _ in 0..<50 {
            var lengths: [Int] = []
            for buffer in buffers {
                buffer.initializeMemory(as: UInt8.self, repeating: 0)
                try IPv4Header(source: IPv4Address(100, 64, 12, 1), destination: IPv4Address(100, 64, 12, 2),
                               protocol: .udp, payloadLength: packetSize - 20)
                    .emit(into: UnsafeMutableRawBufferPointer(rebasing: buffer[16..<(16 + packetSize)]))
                buffer.storeBytes(of: UInt64(sequence).bigEndian, toByteOffset: 16 + 28, as: UInt64.self)
                sequence += 1
                guard case .seal(let job, _, let length) = sender.prepareSend(buffer, packetLength: packetSize, now: now)
                else { Issue.record("not sealed"); return }
                workers.submit(job)
                lengths.append(length)
            }
            workers.launch()
            var sealed = 0
            workers.finishOldest { index, job in
                #expect(index == sealed)
                sealed += 1
                // Handed over only once its seal ran: an unrun job has not succeeded.
                #expect(job.succeeded, "job \(index) handed over before it was sealed")
            }
            #expect(sealed == buffers.count)
            #expect(workers.launchedCount == 0 && workers.batch.count == 0, "finishOldest empties the batch")
            var pending: [PendingTransportData] = []
            for (index, buffer) in buffers.enumerated() {
                guard case .open(let job, let data) = receiver.prepareReceive(buffer, length: lengths[index], from: senderEndpoint, now: now)
                else { Issue.record("not prepared"); return }
                workers.submit(job)
                pending.append(data)
            }
            // Each job handed over in order as soon as it is open, while the helpers open later ones.
            var expectedIndex = 0
            workers.launch()
            workers.finishOldest { index, job in
                #expect(index == expectedIndex)
                expectedIndex += 1
                guard case .packet(_, let range) = receiver.completeReceive(pending[index], opened: job, now: now)
                else { Issue.record("job \(index) failed"); return }
                let carried = UInt64(bigEndian: buffers[index].loadUnaligned(fromByteOffset: range.lowerBound + 28, as: UInt64.self))
                #expect(carried == UInt64(sequence - buffers.count + index))
            }
            #expect(expectedIndex == buffers.count)
            // Every job was handed over once, after it ran (each tag verified above), and the batch
            // was emptied for the next round.
            #expect(workers.launchedCount == 0 && workers.batch.count == 0)
        }
        // Scheduling decides the share, not the test; each job ran once (every tag verified above).
        #expect(workers.helperJobCount <= 50 * 128 * 2)
    }

    /// Allocations of the steady-state data path end to end (TCPStream.write → TCP → seal → UDP →
    /// open → TCP → TCPStream.read), counted by `DataPathAllocationProbe` in a process of its own
    /// after a warm-up. The API calls allocate (continuations, the arrays read returns), so the
    /// budget is per call; a data path that allocated once per ten packets would blow it.
    ///
    /// Debug builds allocate per packet in unspecialised generic code, so the probe must be an
    /// optimised build: `swift build -c release --product DataPathAllocationProbe` (perf/alloc.sh),
    /// or point `WIRENET_ALLOCATION_PROBE` at one.
    @Test(.enabled(if: ReleaseProbe.path != nil, "needs a release DataPathAllocationProbe (scripts/test.sh and perf/alloc.sh build it)"),
          arguments: [1, 2])
    func theSteadyStateDataPathAllocatesNothingPerPacket(threads: Int) throws {
        let output = try Shell.run([ReleaseProbe.path!, String(threads), "64", "256"])
        let report = try JSONSerialization.jsonObject(with: Data(output.utf8)) as! [String: Any]
        let allocations = report["allocations"] as! Int
        let calls = (report["writeCalls"] as! Int) + (report["readCalls"] as! Int)
        let packets = report["dataPackets"] as! Int
        let perCallBudget = 24
        #expect(allocations <= perCallBudget * calls,
                "\(allocations) allocations for \(packets) packets and \(calls) API calls: \(Double(allocations - perCallBudget * calls) / Double(packets)) per packet beyond the per-call budget")
        #expect(packets >= 10 * calls, "the measurement must be dominated by packets, not calls")
    }
}

/// The optimised allocation probe, if one was built.
enum ReleaseProbe {
    static var path: String? {
        if let override = ProcessInfo.processInfo.environment["WIRENET_ALLOCATION_PROBE"] { return override }
        guard let debugDirectory = WirenetBinary.builtPath.map({ URL(fileURLWithPath: $0).deletingLastPathComponent() }) else { return nil }
        // .build/<triple>/debug/wirenet → .build/<triple>/release/DataPathAllocationProbe
        let candidate = debugDirectory.deletingLastPathComponent().appendingPathComponent("release/DataPathAllocationProbe").path
        return FileManager.default.isExecutableFile(atPath: candidate) ? candidate : nil
    }
}
