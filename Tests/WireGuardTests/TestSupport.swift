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
    let endpoint: Endpoint
    let tunnelAddress: UInt32
    var delivered: [[UInt8]] = []
    var receiveResults: [ReceiveResult] = []

    init(endpoint: Endpoint, tunnelAddress: UInt32, now: WireGuardInstant, loadThreshold: Int = 1000,
         privateKey: PrivateKey = PrivateKey()) {
        self.endpoint = endpoint
        self.tunnelAddress = tunnelAddress
        device = WireGuardDevice(configuration: DeviceConfiguration(
            privateKey: privateKey, handshakeLoadThreshold: loadThreshold,
            wallClock: WallClockAnchor(instant: now, unixNanoseconds: 1_700_000_000_000_000_000)))
    }

    var publicKey: PublicKey { device.publicKey }

    var drops: [DropReason: UInt64] {
        Dictionary(uniqueKeysWithValues: device.drops.nonZero.map { ($0.0, $0.1) })
    }
}

/// A datagram on the simulated underlay.
struct SimulatedDatagram {
    var from: Endpoint
    var to: Endpoint
    var bytes: [UInt8]
}

/// An in-memory underlay between hosts with a manual clock and fault injection (drop, duplicate,
/// reorder), driving each device as an engine would: receive, send, poll until idle.
final class SimulatedNetwork {
    enum Fault { case deliver, drop, duplicate, hold }

    var now = WireGuardInstant(nanoseconds: 1_000_000_000)
    var hosts: [Endpoint: SimulatedHost] = [:]
    var inFlight: [SimulatedDatagram] = []
    var held: [SimulatedDatagram] = []
    /// Decides what happens to each datagram put on the wire.
    var fault: (SimulatedDatagram) -> Fault = { _ in .deliver }
    var log: [SimulatedDatagram] = []

    @discardableResult
    func addHost(_ octet: UInt8, loadThreshold: Int = 1000) -> SimulatedHost {
        let host = SimulatedHost(
            endpoint: .v4(10, 250, 9, octet, port: 51820), tunnelAddress: ip(100, 64, 9, UInt32(octet)), now: now,
            loadThreshold: loadThreshold)
        hosts[host.endpoint] = host
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
        case .deliver: inFlight.append(datagram)
        case .drop: break
        case .duplicate: inFlight.append(datagram); inFlight.append(datagram)
        case .hold: held.append(datagram)
        }
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
        for host in hosts.values {
            var buffer = [UInt8](repeating: 0, count: 2048)
            while case .datagram(let to, let length) = buffer.withUnsafeMutableBytes({ host.device.poll(into: $0, now: now) }) {
                transmit(SimulatedDatagram(from: host.endpoint, to: to, bytes: Array(buffer[0..<length])))
            }
        }
    }

    /// Polls and delivers until nothing is in flight.
    func run(maxRounds: Int = 100) {
        pollAll()
        var rounds = 0
        while !inFlight.isEmpty, rounds < maxRounds {
            let batch = inFlight
            inFlight = []
            for datagram in batch { deliver(datagram) }
            pollAll()
            rounds += 1
        }
    }

    /// Advances the clock (in steps, so timers fire in order) and runs the network.
    func advance(by duration: Duration, step: Duration = .milliseconds(100)) {
        let end = now + duration
        while now < end {
            now = min(now + step, end)
            run()
        }
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
