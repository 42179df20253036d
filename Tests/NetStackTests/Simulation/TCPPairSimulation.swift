import Testing
@testable import NetStack
import Wire

/// Two TCP connections joined by a pair of faulty links, on a virtual clock. The client writes
/// `total` pseudo-random bytes and closes; the server reads everything and closes when it sees the end.
struct TCPPairSimulation {
    typealias Packet = (header: TCPSegmentHeader, payload: [UInt8])

    var client: TCPConnection
    var server: TCPConnection?
    let serverConfiguration: TCPConfiguration
    var clientToServer: FaultyLink<Packet>
    var serverToClient: FaultyLink<Packet>
    var now = NetInstant.zero
    var source: PatternSource
    var sink = SHA256Stream()
    var received = 0
    var clientClosed = false
    var serverClosed = false
    var steps = 0
    var segmentsSent = 0

    init(
        total: Int, seed: UInt64, forward: LinkImpairments, backward: LinkImpairments,
        client clientConfiguration: TCPConfiguration = TCPConfiguration(),
        server serverConfiguration: TCPConfiguration = TCPConfiguration()
    ) {
        client = TCPConnection(
            activeOpenWith: clientConfiguration, iss: SequenceNumber(UInt32(truncatingIfNeeded: seed &* 2654435761)),
            now: .zero, timestampOffset: 1000)
        self.serverConfiguration = serverConfiguration
        clientToServer = FaultyLink(forward, seed: seed &+ 1)
        serverToClient = FaultyLink(backward, seed: seed &+ 2)
        source = PatternSource(total: total, seed: seed)
    }

    /// Runs until both sides are done; returns false if the simulation stalls or exceeds `maxSteps`.
    mutating func run(maxSteps: Int = 5_000_000) -> Bool {
        drainOutputs()
        while steps < maxSteps {
            steps += 1
            if isDone { return true }
            guard let next = nextEventTime else { return false }
            now = Swift.max(now, next)
            for packet in clientToServer.takeDue(now: now) { deliverToServer(packet) }
            for packet in serverToClient.takeDue(now: now) {
                _ = packet.payload.withUnsafeBytes { client.handle(packet.header, payload: $0, now: now) }
            }
            _ = client.handleTimers(now: now)
            _ = server?.handleTimers(now: now)
            runApplications()
            drainOutputs()
        }
        return false
    }

    /// When set, the last `traceLimit` segments sent and delivered, oldest first (for diagnostics).
    var trace: [String]? = nil
    var traceLimit = 60

    private mutating func note(_ event: String) {
        trace!.append("\(Double(now.nanoseconds) / 1e6) ms \(event)")
        if trace!.count > traceLimit { trace!.removeFirst() }
    }

    private func describe(_ h: TCPSegmentHeader, base: SequenceNumber) -> String {
        let blocks = h.sackBlocks.map { "\(SequenceNumber($0.left) - base)-\(SequenceNumber($0.right) - base)" }
        return "seq \(h.seq - base) len \(h.payloadLength) ack \(h.ack - base)\(blocks.isEmpty ? "" : " sack \(blocks)")"
    }

    /// One event step; false when nothing is pending.
    mutating func step() -> Bool {
        steps += 1
        guard let next = nextEventTime else { return false }
        now = Swift.max(now, next)
        for packet in clientToServer.takeDue(now: now) {
            if trace != nil {
                let line = "server gets " + describe(packet.header, base: client.send.iss)
                note(line)
            }
            deliverToServer(packet)
        }
        for packet in serverToClient.takeDue(now: now) {
            if trace != nil {
                let line = "client gets " + describe(packet.header, base: client.send.iss)
                note(line)
            }
            _ = packet.payload.withUnsafeBytes { client.handle(packet.header, payload: $0, now: now) }
        }
        _ = client.handleTimers(now: now)
        _ = server?.handleTimers(now: now)
        runApplications()
        drainOutputs()
        return true
    }

    var isDone: Bool {
        received == source.total && server?.state == .closed
            && (client.state == .timeWait || client.state == .closed)
    }

    var nextEventTime: NetInstant? {
        let readerWake = readRate != nil && (server?.readableBytes ?? 0) > 0 ? now + .milliseconds(1) : nil
        return earliest(
            earliest(
                earliest(clientToServer.nextArrival, serverToClient.nextArrival),
                earliest(client.nextDeadline, server?.nextDeadline)),
            readerWake)
    }

    private mutating func deliverToServer(_ packet: Packet) {
        if server == nil {
            server = TCPConnection(
                passiveOpenFrom: packet.header, configuration: serverConfiguration,
                iss: SequenceNumber(77_000), now: now, timestampOffset: 5_000_000)
            return
        }
        _ = packet.payload.withUnsafeBytes { server!.handle(packet.header, payload: $0, now: now) }
    }

    private mutating func runApplications() {
        if !source.isFinished {
            source.feed { client.write($0) }
        }
        if source.isFinished && !clientClosed && client.state.isSynchronized {
            clientClosed = true
            _ = client.close(now: now)
        }
        guard server != nil else { return }
        if now < readPausedUntil { return }
        if let rate = readRate {
            // A reader of `rate` bytes per second: credit accrues with time, capped at 10 ms' worth.
            let elapsed = now.nanoseconds - (lastReadAt ?? now).nanoseconds
            lastReadAt = now
            readCredit = Swift.min(readCredit + Int(Int64(rate) * elapsed / 1_000_000_000), rate / 100)
        }
        while server!.readableBytes > 0 && (readRate == nil || readCredit > 0) {
            let n = server!.read { chunk in
                let take = readRate == nil ? chunk.count : Swift.min(chunk.count, readCredit)
                sink.update(UnsafeRawBufferPointer(rebasing: chunk.prefix(take)))
                return take
            }
            received += n
            if readRate != nil { readCredit -= n }
            if n == 0 { break }
        }
        if server!.isAtEndOfStream && !serverClosed {
            serverClosed = true
            _ = server!.close(now: now)
        }
    }

    /// The server application does not read before this instant (a slow reader: zero windows).
    var readPausedUntil = NetInstant.zero
    /// When set, the server application reads at most this many bytes per second (and wakes every
    /// millisecond while bytes wait).
    var readRate: Int? = nil
    var readCredit = 0
    var lastReadAt: NetInstant? = nil
    mutating func drainOutputs() {
        while let header = client.nextSegment(now: now) {
            var payload = [UInt8](repeating: 0, count: header.payloadLength)
            _ = payload.withUnsafeMutableBytes { client.copyPayload(of: header, into: $0) }
            if trace != nil {
                let line = "client sends " + describe(header, base: client.send.iss)
                note(line)
            }
            clientToServer.send((header, payload), size: header.payloadLength + 52, now: now)
            segmentsSent += 1
        }
        guard server != nil else { return }
        while let header = server!.nextSegment(now: now) {
            var payload = [UInt8](repeating: 0, count: header.payloadLength)
            _ = payload.withUnsafeMutableBytes { server!.copyPayload(of: header, into: $0) }
            if trace != nil {
                let line = "server sends " + describe(header, base: client.send.iss)
                note(line)
            }
            serverToClient.send((header, payload), size: header.payloadLength + 52, now: now)
            segmentsSent += 1
        }
    }
}

@Suite("TCP over a simulated faulty network")
struct TCPSimulationTests {
    static let tenMegabytes = 10 * 1024 * 1024

    func transfer(
        _ total: Int, seed: UInt64, forward: LinkImpairments, backward: LinkImpairments,
        client: TCPConfiguration = TCPConfiguration(), server: TCPConfiguration = TCPConfiguration()
    ) -> TCPPairSimulation {
        var sim = TCPPairSimulation(
            total: total, seed: seed, forward: forward, backward: backward, client: client, server: server)
        let finished = sim.run()
        #expect(finished, "stalled: client \(sim.client.state), server \(String(describing: sim.server?.state)), received \(sim.received) at \(sim.now)")
        #expect(sim.received == total)
        var expected = PatternSource(total: total, seed: seed)
        expected.feed { $0.count }
        #expect(sim.sink.finish() == expected.digest(), "sha256 of the received stream differs")
        #expect(sim.client.error == nil)
        #expect(sim.server?.error == nil)
        let seconds = Double(sim.now.nanoseconds) / 1e9
        print("simulation seed \(seed): \(total) bytes in \(seconds) s virtual time (\(Int(Double(total) / seconds / 1e6 * 8)) Mbit/s), \(sim.segmentsSent) segments, \(sim.steps) steps")
        return sim
    }

    @Test("10 MB over a clean link arrive intact (sha256)")
    func cleanTransfer() {
        let link = LinkImpairments(delay: .milliseconds(10), bytesPerSecond: 50_000_000, queueLimit: 2000)
        _ = transfer(Self.tenMegabytes, seed: 1, forward: link, backward: link)
    }

    @Test("10 MB with 2% loss, reordering and duplication in both directions arrive intact (sha256)")
    func lossyTransfer() {
        let link = LinkImpairments(
            loss: 0.02, duplication: 0.01, reordering: 0.02, delay: .milliseconds(10),
            bytesPerSecond: 50_000_000, queueLimit: 2000)
        _ = transfer(Self.tenMegabytes, seed: 2, forward: link, backward: link)
    }

    @Test("10 MB with 10% loss in both directions arrive intact (sha256)")
    func heavyLossTransfer() {
        let link = LinkImpairments(loss: 0.10, reordering: 0.01, delay: .milliseconds(5), bytesPerSecond: 50_000_000)
        _ = transfer(Self.tenMegabytes, seed: 3, forward: link, backward: link)
    }

    @Test("10 MB with a small MSS (IPv6 minimum MTU 1280) and small buffers arrive intact (sha256)")
    func smallMSSTransfer() {
        var config = TCPConfiguration()
        config.maxSegmentSize = 1280 - 60
        config.receiveBufferSize = 64 * 1024
        config.sendBufferSize = 64 * 1024
        let link = LinkImpairments(loss: 0.01, reordering: 0.05, delay: .milliseconds(2), bytesPerSecond: 20_000_000)
        _ = transfer(Self.tenMegabytes, seed: 4, forward: link, backward: link, client: config, server: config)
    }

    @Test("Transfer without timestamps or window scaling (RFC 6298 Karn timing path)")
    func transferWithoutOptions() {
        var config = TCPConfiguration()
        config.timestamps = false
        config.windowScaling = false
        let link = LinkImpairments(loss: 0.03, duplication: 0.02, reordering: 0.03, delay: .milliseconds(20))
        _ = transfer(Self.tenMegabytes, seed: 5, forward: link, backward: link, client: config, server: config)
    }
}
