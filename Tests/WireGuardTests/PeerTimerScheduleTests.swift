import Testing
import Wire
@testable import WireGuard

/// The timer algorithm before `PeerTimerSchedule`: when any peer's timer was due, every peer was
/// visited. Kept here (in slot order) as the reference the schedule must reproduce.
extension WireGuardDevice {
    var earliestTimerByScan: NetInstant? { peersBySlot.compactMap { $0?.timers.earliest }.min() }

    func fireTimersByScan(now: NetInstant) {
        guard let due = earliestTimerByScan, due <= now else { return }
        for peer in peersBySlot { if let peer { fireTimers(peer, now: now) } }
    }
}

@Suite("Peer timers in a heap")
struct PeerTimerScheduleTests {
    enum Driver { case heap, scan }

    struct Run {
        var log: [String] = []
        var deadlineMismatches = 0
        var visitMismatches = 0
        var visits = 0
    }

    /// Six hosts, each the peer of every other (two with persistent keepalive), on a link that drops
    /// 15 % of datagrams, with inner packets sent at random for three simulated minutes: handshake
    /// retries, keepalives, new handshakes after unanswered data and persistent keepalives all fire.
    static func simulate(seed: UInt64, driver: Driver) throws -> Run {
        var run = Run()
        let network = SimulatedNetwork(seed: seed)
        network.latency = .milliseconds(7)
        let hosts = (1...6).map { network.addHost(UInt8($0)) }
        for i in hosts.indices {
            for j in hosts.indices where j > i { try network.pair(hosts[i], hosts[j]) }
        }
        for (host, peer) in [(hosts[0], hosts[1]), (hosts[2], hosts[5])] {
            try host.device.addPeer(PeerConfiguration(
                publicKey: peer.publicKey, endpoint: peer.endpoint,
                allowedIPs: [IPPrefix(.v4(IPv4Address(rawValue: peer.tunnelAddress)), length: 32)!],
                persistentKeepalive: .seconds(7)))
        }
        var loss = RandomSource(seed: seed &+ 1000)
        // Each datagram's time, ends, type and length (handshake contents depend on fresh ephemeral keys).
        network.fault = { datagram in
            run.log.append("\(network.now.nanoseconds) \(datagram.from) \(datagram.to) \(datagram.bytes[0]) \(datagram.bytes.count)")
            return UInt64.random(in: 0..<100, using: &loss) < 15 ? .drop : .deliver
        }
        var expectedVisits = 0
        var visitsBefore = 0
        switch driver {
        case .heap:
            network.beforePoll = { host in
                let device = host.device
                expectedVisits = device.earliestTimerByScan.map { $0 <= network.now } ?? false
                    ? device.peersBySlot.filter { $0?.timers.earliest.map { $0 <= network.now } ?? false }.count : 0
                visitsBefore = device.timerVisits
            }
            network.afterPoll = { host in
                let device = host.device
                if device.timerVisits - visitsBefore != expectedVisits { run.visitMismatches += 1 }
                run.visits += device.timerVisits - visitsBefore
                if device.nextTimerDeadline != device.earliestTimerByScan { run.deadlineMismatches += 1 }
            }
        case .scan:
            network.beforePoll = { host in host.device.fireTimersByScan(now: network.now) }
        }
        var app = RandomSource(seed: seed &+ 2000)
        for _ in 0..<1800 {
            if UInt64.random(in: 0..<100, using: &app) < 30 {
                let from = hosts[Int(UInt64.random(in: 0..<6, using: &app))]
                let to = hosts.filter { $0 !== from }[Int(UInt64.random(in: 0..<5, using: &app))]
                network.send(ipv4Packet(source: from.tunnelAddress, destination: to.tunnelAddress, payload: [7]), from: from)
            }
            network.advance(by: .milliseconds(100), step: .milliseconds(100))
        }
        return run
    }

    @Test("The heap fires exactly the timers the scan of every peer fires: the same datagrams (time, ends, type, length) over 6 seeds")
    func heapMatchesScan() throws {
        for seed in UInt64(1)...6 {
            let heap = try Self.simulate(seed: seed, driver: .heap)
            let scan = try Self.simulate(seed: seed, driver: .scan)
            #expect(heap.log.count > 300, "seed \(seed): too little traffic to mean anything")
            #expect(heap.visits > 50, "seed \(seed): too few timers fired")
            #expect(heap.deadlineMismatches == 0, "seed \(seed)")
            #expect(heap.visitMismatches == 0, "seed \(seed)")
            let identical = heap.log == scan.log
            #expect(identical, "seed \(seed): \(heap.log.count) datagrams against \(scan.log.count)")
        }
    }

    @Test("10,000 idle peers: no deadline and no visit; with 23 handshakes unanswered, exactly 23 peers are visited")
    func idlePeersAreNotVisited() throws {
        let network = SimulatedNetwork(seed: 99)
        let device = network.addHost(1).device
        var keys: [PublicKey] = []
        var random = RandomSource(seed: 5)
        for i in 0..<10_000 {
            let key = PrivateKey(Key32(bytes: (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) })!).publicKey
            try device.addPeer(PeerConfiguration(
                publicKey: key, endpoint: .v4(10, 251, UInt8(i >> 8), UInt8(i & 0xFF), port: 51820), allowedIPs: []))
            keys.append(key)
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 16)
        defer { buffer.deallocate() }
        func drain(_ now: NetInstant) -> (datagrams: Int, deadline: NetInstant?) {
            var datagrams = 0
            while true {
                switch device.poll(into: buffer, now: now) {
                case .datagram: datagrams += 1
                case .idle(let deadline): return (datagrams, deadline)
                }
            }
        }
        let start = network.now
        #expect(drain(start + .seconds(3600)) == (0, nil))
        #expect(device.timerVisits == 0)

        var chosen = Set<Int>()
        while chosen.count < 23 { chosen.insert(Int(UInt64.random(in: 0..<10_000, using: &random))) }
        for i in chosen { try device.initiateHandshake(with: keys[i], now: start) }
        #expect(drain(start).datagrams == 23)
        #expect(device.timerVisits == 0)
        // Rekey-Timeout (5 s) plus at most 333 ms of jitter: every initiation is retried, no other peer is touched.
        #expect(drain(start + .seconds(4)).datagrams == 0)
        #expect(device.timerVisits == 0)
        #expect(drain(start + .milliseconds(5400)).datagrams == 23)
        #expect(device.timerVisits == 23)
    }
}
