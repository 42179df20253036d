import Foundation
import Wire
@testable import WireGuard

/// Hex helpers for known-answer tests.
func hex(_ text: String) -> [UInt8] {
    var bytes = [UInt8]()
    var iterator = text.filter { !$0.isWhitespace }.makeIterator()
    while let high = iterator.next(), let low = iterator.next() {
        bytes.append(UInt8(String([high, low]), radix: 16)!)
    }
    return bytes
}

func hexString(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
}

func key32(_ text: String) -> Key32 { Key32(bytes: hex(text))! }

extension Key32 {
    var hexString: String { WireGuardTests.hexString(bytes) }
}

/// A minimal IPv4 packet (header + payload) for feeding the device; checksum left zero.
func ipv4Packet(source: UInt32, destination: UInt32, payload: [UInt8]) -> [UInt8] {
    var packet = [UInt8](repeating: 0, count: 20)
    packet[0] = 0x45
    let total = UInt16(20 + payload.count)
    packet[2] = UInt8(total >> 8)
    packet[3] = UInt8(total & 0xFF)
    packet[8] = 64
    packet[9] = 17
    for i in 0..<4 {
        packet[12 + i] = UInt8(truncatingIfNeeded: source >> (24 - 8 * UInt32(i)))
        packet[16 + i] = UInt8(truncatingIfNeeded: destination >> (24 - 8 * UInt32(i)))
    }
    return packet + payload
}

/// A minimal IPv6 packet.
func ipv6Packet(source: (UInt64, UInt64), destination: (UInt64, UInt64), payload: [UInt8]) -> [UInt8] {
    var packet = [UInt8](repeating: 0, count: 40)
    packet[0] = 0x60
    packet[4] = UInt8(payload.count >> 8)
    packet[5] = UInt8(payload.count & 0xFF)
    packet[6] = 17
    packet[7] = 64
    func put(_ value: UInt64, at offset: Int) {
        for i in 0..<8 { packet[offset + i] = UInt8(truncatingIfNeeded: value >> (56 - 8 * UInt64(i))) }
    }
    put(source.0, at: 8); put(source.1, at: 16)
    put(destination.0, at: 24); put(destination.1, at: 32)
    return packet + payload
}

func ip(_ a: UInt32, _ b: UInt32, _ c: UInt32, _ d: UInt32) -> UInt32 { a << 24 | b << 16 | c << 8 | d }

/// One simulated WireGuard host: a device, its underlay endpoint and what it delivered.
final class SimulatedHost {
    let device: WireGuardDevice
    let endpoint: IPEndpoint
    let tunnelAddress: UInt32
    var delivered: [[UInt8]] = []
    var receiveResults: [ReceiveResult] = []

    init(endpoint: IPEndpoint, tunnelAddress: UInt32, now: NetInstant, loadThreshold: Int = 1000,
         privateKey: PrivateKey = PrivateKey(), random: RandomSource = .system) {
        self.endpoint = endpoint
        self.tunnelAddress = tunnelAddress
        device = WireGuardDevice(configuration: DeviceConfiguration(
            privateKey: privateKey, handshakeLoadThreshold: loadThreshold,
            wallClock: WallClockAnchor(instant: now, unixNanoseconds: 1_700_000_000_000_000_000), random: random))
    }

    var publicKey: PublicKey { device.publicKey }

    var drops: [DropReason: UInt64] {
        Dictionary(uniqueKeysWithValues: device.drops.nonZero.map { ($0.0, $0.1) })
    }
}

/// A datagram on the simulated underlay.
struct SimulatedDatagram {
    var from: IPEndpoint
    var to: IPEndpoint
    var bytes: [UInt8]
}

/// An in-memory underlay between hosts with a manual clock, a one-way latency and fault injection
/// (drop, duplicate, reorder), driving each device as an engine would: receive, send, poll until idle.
///
/// Time moves from event to event: ``advance(by:step:)`` never steps past a device's deadline or a
/// datagram's arrival, so timers fire at their exact instants (a coarse step would merge distinct
/// jittered deadlines into one instant). With a `seed`, hosts draw keys, jitter and indices from it
/// and are served in a fixed order, so a run replays exactly.
final class SimulatedNetwork {
    enum Fault { case deliver, drop, duplicate, hold }

    var now = NetInstant(nanoseconds: 1_000_000_000)
    /// Seeds every host's jitter, indices and private key (nil: system randomness).
    let seed: UInt64?
    /// One-way delay of every delivered datagram (zero: delivered within the same instant).
    var latency: Duration = .zero
    var hosts: [IPEndpoint: SimulatedHost] = [:]
    /// Hosts in the order they were added: the order they are polled in.
    private(set) var hostOrder: [SimulatedHost] = []
    var inFlight: [SimulatedDatagram] = []
    var held: [SimulatedDatagram] = []
    /// Datagrams on the wire that arrive later (`latency` > 0), in sending order.
    private var scheduled: [(due: NetInstant, datagram: SimulatedDatagram)] = []
    /// Each host's next deadline, as its last poll returned it.
    private var deadlines: [IPEndpoint: NetInstant] = [:]
    /// Decides what happens to each datagram put on the wire.
    var fault: (SimulatedDatagram) -> Fault = { _ in .deliver }
    var log: [SimulatedDatagram] = []
    /// Called with each host before and after it is polled (timer tests drive or check timers here).
    var beforePoll: (SimulatedHost) -> Void = { _ in }
    var afterPoll: (SimulatedHost) -> Void = { _ in }

    init(seed: UInt64? = nil) { self.seed = seed }

    @discardableResult
    func addHost(_ octet: UInt8, loadThreshold: Int = 1000) -> SimulatedHost {
        var random = seed.map { RandomSource(seed: $0 &* 0x1_0000 &+ UInt64(octet)) } ?? .system
        let privateKey: PrivateKey
        if random.isSeeded {
            privateKey = PrivateKey(Key32(bytes: (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) })!)
        } else {
            privateKey = PrivateKey()
        }
        let host = SimulatedHost(
            endpoint: .v4(10, 250, 9, octet, port: 51820), tunnelAddress: ip(100, 64, 9, UInt32(octet)), now: now,
            loadThreshold: loadThreshold, privateKey: privateKey, random: random)
        hosts[host.endpoint] = host
        hostOrder.append(host)
        return host
    }

    /// Configures `a` and `b` as each other's peers (tunnel /32s, known endpoints).
    func pair(_ a: SimulatedHost, _ b: SimulatedHost, presharedKey: PresharedKey? = nil,
              presharedKeyB: PresharedKey? = nil, knowEndpoints: Bool = true) throws {
        try a.device.addPeer(PeerConfiguration(
            publicKey: b.publicKey, presharedKey: presharedKey, endpoint: knowEndpoints ? b.endpoint : nil,
            allowedIPs: [IPPrefix(.v4(IPv4Address(rawValue: b.tunnelAddress)), length: 32)!]))
        try b.device.addPeer(PeerConfiguration(
            publicKey: a.publicKey, presharedKey: presharedKeyB ?? presharedKey, endpoint: knowEndpoints ? a.endpoint : nil,
            allowedIPs: [IPPrefix(.v4(IPv4Address(rawValue: a.tunnelAddress)), length: 32)!]))
    }

    func transmit(_ datagram: SimulatedDatagram) {
        log.append(datagram)
        switch fault(datagram) {
        case .deliver: put(datagram)
        case .drop: break
        case .duplicate: put(datagram); put(datagram)
        case .hold: held.append(datagram)
        }
    }

    private func put(_ datagram: SimulatedDatagram) {
        if latency == .zero {
            inFlight.append(datagram)
        } else {
            scheduled.append((now + latency, datagram))
        }
    }

    /// Moves datagrams whose arrival time has come to `inFlight`.
    private func releaseArrived() {
        guard !scheduled.isEmpty else { return }
        var remaining: [(due: NetInstant, datagram: SimulatedDatagram)] = []
        for entry in scheduled {
            if entry.due <= now { inFlight.append(entry.datagram) } else { remaining.append(entry) }
        }
        scheduled = remaining
    }

    /// Sends an inner packet from `host` as an engine would.
    @discardableResult
    func send(_ packet: [UInt8], from host: SimulatedHost) -> SendResult {
        var buffer = [UInt8](repeating: 0, count: 16 + packet.count + WireGuardDevice.sendTailroom)
        buffer.replaceSubrange(16..<(16 + packet.count), with: packet)
        let result = buffer.withUnsafeMutableBytes { host.device.send($0, packetLength: packet.count, now: now) }
        if case .datagram(let to, let length) = result {
            transmit(SimulatedDatagram(from: host.endpoint, to: to, bytes: Array(buffer[0..<length])))
        }
        return result
    }

    /// Delivers one datagram to its host.
    func deliver(_ datagram: SimulatedDatagram) {
        guard let host = hosts[datagram.to] else { return }
        var buffer = datagram.bytes + [UInt8](repeating: 0, count: max(0, 148 - datagram.bytes.count))
        let result = buffer.withUnsafeMutableBytes {
            host.device.receive($0, length: datagram.bytes.count, from: datagram.from, now: now)
        }
        host.receiveResults.append(result)
        switch result {
        case .packet(_, let range): host.delivered.append(Array(buffer[range]))
        case .reply(let to, let length):
            transmit(SimulatedDatagram(from: host.endpoint, to: to, bytes: Array(buffer[0..<length])))
        case .processed, .dropped: break
        }
    }

    func pollAll() {
        var buffer = [UInt8](repeating: 0, count: 2048)
        for host in hostOrder {
            beforePoll(host)
            defer { afterPoll(host) }
            polling: while true {
                switch buffer.withUnsafeMutableBytes({ host.device.poll(into: $0, now: now) }) {
                case .datagram(let to, let length):
                    transmit(SimulatedDatagram(from: host.endpoint, to: to, bytes: Array(buffer[0..<length])))
                case .idle(let deadline):
                    deadlines[host.endpoint] = deadline
                    break polling
                }
            }
        }
    }

    /// Polls and delivers until nothing is in flight at this instant.
    func run(maxRounds: Int = 100) {
        pollAll()
        releaseArrived()
        var rounds = 0
        while !inFlight.isEmpty, rounds < maxRounds {
            let batch = inFlight
            inFlight = []
            for datagram in batch { deliver(datagram) }
            pollAll()
            releaseArrived()
            rounds += 1
        }
    }

    /// Advances the clock by `duration`, stopping at every device deadline and datagram arrival
    /// (and at least every `step`), and runs the network at each stop.
    func advance(by duration: Duration, step: Duration = .milliseconds(100)) {
        let end = now + duration
        while now < end { advanceToNextEvent(notAfter: end, step: step) }
    }

    /// Advances event by event until `condition` holds or `limit` has passed; returns whether it held.
    func advance(until condition: () -> Bool, limit: Duration) -> Bool {
        let end = now + limit
        while !condition() {
            guard now < end else { return false }
            advanceToNextEvent(notAfter: end, step: .milliseconds(100))
        }
        return true
    }

    private func advanceToNextEvent(notAfter end: NetInstant, step: Duration) {
        var next = min(now + step, end)
        for deadline in deadlines.values where deadline > now { next = min(next, deadline) }
        for entry in scheduled where entry.due > now { next = min(next, entry.due) }
        now = next
        run()
    }

    /// Releases held datagrams (in reverse order: reordering).
    func releaseHeld(reversed: Bool = true) {
        let batch = reversed ? held.reversed() : held
        held = []
        for datagram in batch { deliver(datagram) }
        run()
    }
}

func messageType(_ datagram: SimulatedDatagram) -> UInt8 { datagram.bytes[0] }
