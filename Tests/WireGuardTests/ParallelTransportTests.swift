import Testing
import Wire
@testable import WireGuard

/// The prepare / seal-or-open / complete split that lets worker threads run the AEAD while the
/// device stays the only owner of counters, replay windows and timers.
@Suite struct ParallelTransportTests {
    func established() throws -> (SimulatedNetwork, SimulatedHost, SimulatedHost) {
        let network = SimulatedNetwork()
        let a = network.addHost(1)
        let b = network.addHost(2)
        try network.pair(a, b)
        try a.device.initiateHandshake(with: b.publicKey, now: network.now)
        network.run()
        return (network, a, b)
    }

    /// `count` buffers holding packets from `a` to `b`, packet i carrying i in its first payload bytes.
    func buffers(_ a: SimulatedHost, _ b: SimulatedHost, count: Int) -> [UnsafeMutableRawBufferPointer] {
        (0..<count).map { n in
            let packet = ipv4Packet(source: a.tunnelAddress, destination: b.tunnelAddress,
                                    payload: [UInt8(n >> 8), UInt8(n & 0xFF)] + [UInt8](repeating: UInt8(truncatingIfNeeded: n), count: 100 + n))
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 + packet.count + WireGuardDevice.sendTailroom, alignment: 16)
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            buffer.baseAddress!.advanced(by: 16).copyMemory(from: packet, byteCount: packet.count)
            return buffer
        }
    }

    @Test func jobsSealedInAnyOrderAreOpenedAndDeliveredInPreparationOrder() throws {
        let (network, a, b) = try established()
        let batch = CryptoBatch(capacity: 64)
        let packets = buffers(a, b, count: 40)
        defer { packets.forEach { $0.deallocate() } }
        var lengths: [Int] = []
        for buffer in packets {
            let packetLength = Int(UInt16(buffer[18]) << 8 | UInt16(buffer[19]))
            guard case .seal(let job, let endpoint, let length) = a.device.prepareSend(buffer, packetLength: packetLength, now: network.now) else {
                Issue.record("not sealed")
                return
            }
            #expect(endpoint == b.endpoint)
            batch.append(job)
            lengths.append(length)
        }
        // Run the jobs back to front, as racing workers might.
        var jobs = (0..<batch.count).map { batch[$0] }
        for index in jobs.indices.reversed() { jobs[index].perform() }
        batch.reset()

        var pending: [PendingTransportData] = []
        for (index, buffer) in packets.enumerated() {
            guard case .open(let job, let data) = b.device.prepareReceive(buffer, length: lengths[index], from: a.endpoint, now: network.now) else {
                Issue.record("not prepared for opening")
                return
            }
            batch.append(job)
            pending.append(data)
        }
        jobs = (0..<batch.count).map { batch[$0] }
        for index in stride(from: 0, to: jobs.count, by: 2) { jobs[index].perform() }
        for index in stride(from: 1, to: jobs.count, by: 2) { jobs[index].perform() }
        for (index, job) in jobs.enumerated() {
            guard case .packet(let peer, let range) = b.device.completeReceive(pending[index], opened: job, now: network.now) else {
                Issue.record("packet \(index) not delivered")
                continue
            }
            #expect(peer == a.publicKey)
            #expect(packets[index][range.lowerBound + 20] == UInt8(index >> 8) && packets[index][range.lowerBound + 21] == UInt8(index & 0xFF))
        }
        batch.reset()
    }

    @Test func aDuplicateInTheSameBatchPassesThePreCheckButIsDroppedAtCompletion() throws {
        let (network, a, b) = try established()
        let packets = buffers(a, b, count: 1)
        defer { packets.forEach { $0.deallocate() } }
        let packetLength = Int(UInt16(packets[0][18]) << 8 | UInt16(packets[0][19]))
        guard case .datagram(_, let length) = a.device.send(packets[0], packetLength: packetLength, now: network.now) else {
            Issue.record("not sealed")
            return
        }
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: packets[0].count, alignment: 16)
        defer { copy.deallocate() }
        copy.copyMemory(from: UnsafeRawBufferPointer(packets[0]))
        guard case .open(var first, let firstData) = b.device.prepareReceive(packets[0], length: length, from: a.endpoint, now: network.now),
              case .open(var second, let secondData) = b.device.prepareReceive(copy, length: length, from: a.endpoint, now: network.now)
        else {
            Issue.record("duplicate rejected before decryption; expected the replay window to decide after it")
            return
        }
        first.perform()
        second.perform()
        guard case .packet = b.device.completeReceive(firstData, opened: first, now: network.now) else {
            Issue.record("first copy not delivered")
            return
        }
        #expect(b.device.completeReceive(secondData, opened: second, now: network.now) == .dropped(.replayedCounter))
    }

    @Test func aTamperedMessageFailsItsJobAndIsCountedAsADecryptionFailure() throws {
        let (network, a, b) = try established()
        let packets = buffers(a, b, count: 1)
        defer { packets.forEach { $0.deallocate() } }
        let packetLength = Int(UInt16(packets[0][18]) << 8 | UInt16(packets[0][19]))
        guard case .datagram(_, let length) = a.device.send(packets[0], packetLength: packetLength, now: network.now) else {
            Issue.record("not sealed")
            return
        }
        packets[0][40] ^= 0x01
        guard case .open(var job, let data) = b.device.prepareReceive(packets[0], length: length, from: a.endpoint, now: network.now) else {
            Issue.record("not prepared")
            return
        }
        job.perform()
        #expect(!job.succeeded)
        #expect(b.device.completeReceive(data, opened: job, now: network.now) == .dropped(.decryptionFailed))
        #expect(b.device.status(of: a.publicKey)?.drops[.decryptionFailed] == 1)
    }

    @Test func handshakeMessagesAreLeftToTheSequentialPath() throws {
        let network = SimulatedNetwork()
        let a = network.addHost(1)
        let b = network.addHost(2)
        try network.pair(a, b)
        try a.device.initiateHandshake(with: b.publicKey, now: network.now)
        var buffer = [UInt8](repeating: 0, count: 256)
        let result = buffer.withUnsafeMutableBytes { a.device.poll(into: $0, now: network.now) }
        guard case .datagram(_, let length) = result else {
            Issue.record("no initiation")
            return
        }
        let preparation = buffer.withUnsafeMutableBytes { b.device.prepareReceive($0, length: length, from: a.endpoint, now: network.now) }
        guard case .handshake = preparation else {
            Issue.record("an initiation must go to receive(), got \(preparation)")
            return
        }
    }

    @Test func aBatchSharedBetweenThreadsRunsEveryJobOnce() async throws {
        let (network, a, b) = try established()
        let batch = CryptoBatch(capacity: 256)
        let packets = buffers(a, b, count: 200)
        defer { packets.forEach { $0.deallocate() } }
        var lengths: [Int] = []
        for buffer in packets {
            let packetLength = Int(UInt16(buffer[18]) << 8 | UInt16(buffer[19]))
            guard case .seal(let job, _, let length) = a.device.prepareSend(buffer, packetLength: packetLength, now: network.now) else {
                Issue.record("not sealed")
                return
            }
            batch.append(job)
            lengths.append(length)
        }
        batch.publish()
        let helper = Task.detached { batch.performAvailable() }
        let ranHere = batch.performAvailable()
        batch.waitUntilComplete()
        let ranThere = await helper.value
        #expect(ranHere + ranThere == 200)
        batch.reset()
        for (index, buffer) in packets.enumerated() {
            let result = b.device.receive(buffer, length: lengths[index], from: a.endpoint, now: network.now)
            guard case .packet = result else {
                Issue.record("packet \(index): \(result)")
                continue
            }
        }
    }
}
