import Foundation
import Glibc
import NetTestSupport
import Testing
import Wire
@testable import WireGuard

/// Interoperability with wireguard-go (Debian `wireguard-go`, on a TUN device in a network namespace
/// this suite creates). Underlay 10.250.4.0/24 (ours .1, theirs .2); tunnel 100.64.4.0/24 and
/// fd7a:115c:a1e0:4::/64 (ours ::1/.1, theirs ::2/.2). Our side is this module over a plain UDP socket.
@Suite(.serialized, .enabled(if: Shell.isRoot && Shell.has("wireguard-go") && Shell.has("wg"),
                             "needs root, wireguard-go and wg for network namespaces"))
struct WireGuardGoInteropTests {
    static let ourTunnelV4 = IPv4Address(100, 64, 4, 1)
    static let theirTunnelV4 = IPv4Address(100, 64, 4, 2)
    static let ourTunnelV6 = IPv6Address("fd7a:115c:a1e0:4::1")!
    static let theirTunnelV6 = IPv6Address("fd7a:115c:a1e0:4::2")!

    @Test func weInitiateAndExchangeICMPv4AndICMPv6EchoWithTheKernelBehindWireGuardGo() throws {
        let driver = try UDPDriver()
        let peer = try WireGuardGoPeer(ourKey: driver.device.publicKey, ourPort: nil)
        try driver.configure(peer: peer)
        try driver.ping(Self.theirTunnelV4, from: Self.ourTunnelV4, sequence: 1)
        try driver.ping(Self.theirTunnelV6, from: Self.ourTunnelV6, sequence: 2)
        #expect(driver.device.status(of: peer.publicKey)?.handshakesCompleted == 1)
        #expect(driver.device.drops.total == 0, "\(driver.device.drops)")
    }

    @Test func theyInitiateAndWeAnswerTheirPings() throws {
        let driver = try UDPDriver()
        let peer = try WireGuardGoPeer(ourKey: driver.device.publicKey, ourPort: driver.port)
        try driver.configure(peer: peer, knowEndpoint: false)
        let ping = try peer.namespace.spawn(["ping", "-c", "3", "-i", "0.2", "-W", "2", "\(Self.ourTunnelV4)"])
        try driver.answerPings(until: { !ping.isRunning }, timeout: .seconds(8))
        let output = ping.output
        #expect(output.contains("3 received"), "\(output)")
        let ping6 = try peer.namespace.spawn(["ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", "\(Self.ourTunnelV6)"])
        try driver.answerPings(until: { !ping6.isRunning }, timeout: .seconds(8))
        #expect(ping6.output.contains("2 received"), "\(ping6.output)")
        // We learned their endpoint from their authenticated initiation.
        #expect(driver.device.status(of: peer.publicKey)?.endpoint == .v4(10, 250, 4, 2, port: WireGuardGoPeer.listenPort))
    }

    @Test func presharedKeyHandshakeInteroperatesBothWays() throws {
        let psk = PresharedKey()
        let driver = try UDPDriver()
        let peer = try WireGuardGoPeer(ourKey: driver.device.publicKey, ourPort: driver.port, presharedKey: psk)
        try driver.configure(peer: peer, presharedKey: psk)
        try driver.ping(Self.theirTunnelV4, from: Self.ourTunnelV4, sequence: 7)
        // Now make them initiate: re-adding our peer entry drops their session, so their next packet
        // starts a handshake (with the same pre-shared key).
        try peer.reconfigure(ourKey: driver.device.publicKey, ourPort: driver.port)
        let ping = try peer.namespace.spawn(["ping", "-c", "2", "-i", "0.2", "-W", "2", "\(Self.ourTunnelV4)"])
        try driver.answerPings(until: { !ping.isRunning }, timeout: .seconds(8))
        #expect(ping.output.contains("2 received"), "\(ping.output)")
        #expect(driver.device.status(of: peer.publicKey)?.handshakesCompleted == 2)
        #expect(driver.device.drops.total == 0, "\(driver.device.drops)")
    }

    @Test func trafficContinuesAfterAForcedRekeyFromEitherSide() throws {
        let driver = try UDPDriver()
        let peer = try WireGuardGoPeer(ourKey: driver.device.publicKey, ourPort: driver.port)
        try driver.configure(peer: peer)
        try driver.ping(Self.theirTunnelV4, from: Self.ourTunnelV4, sequence: 1)
        let firstIndex = driver.device.peers[peer.publicKey]?.keypairs.current?.localIndex

        // Our side rekeys.
        try driver.device.initiateHandshake(with: peer.publicKey, now: driver.now())
        try driver.pump(until: { driver.device.status(of: peer.publicKey)?.handshakesCompleted == 2 }, timeout: .seconds(5))
        #expect(driver.device.peers[peer.publicKey]?.keypairs.current?.localIndex != firstIndex)
        try driver.ping(Self.theirTunnelV4, from: Self.ourTunnelV4, sequence: 2)
        try driver.ping(Self.theirTunnelV6, from: Self.ourTunnelV6, sequence: 3)

        // Their side rekeys: a new peer configuration forces wireguard-go to start over
        // (removing and re-adding the peer drops its sessions); its next packet initiates.
        try peer.reconfigure(ourKey: driver.device.publicKey, ourPort: driver.port)
        let ping = try peer.namespace.spawn(["ping", "-c", "2", "-i", "0.2", "-W", "2", "\(Self.ourTunnelV4)"])
        try driver.answerPings(until: { !ping.isRunning }, timeout: .seconds(8))
        #expect(ping.output.contains("2 received"), "\(ping.output)")
        #expect((driver.device.status(of: peer.publicKey)?.handshakesCompleted ?? 0) >= 3)
    }
}

/// wireguard-go running in its own namespace, reachable at 10.250.4.2:51820.
final class WireGuardGoPeer {
    static let listenPort: UInt16 = 51820
    nonisolated(unsafe) private static var counter = 0

    let namespace: NetworkNamespace
    let link: VethLink
    let interface: String
    let privateKey = PrivateKey()
    var publicKey: PublicKey { privateKey.publicKey }
    let presharedKey: PresharedKey?
    private var process: BackgroundProcess?
    private let directory: URL

    init(ourKey: PublicKey, ourPort: UInt16?, presharedKey: PresharedKey? = nil) throws {
        Self.counter += 1
        interface = "wgi\(getpid() % 100_000)x\(Self.counter)"
        self.presharedKey = presharedKey
        namespace = try NetworkNamespace(tag: "wg")
        link = try VethLink(to: namespace, hostAddress: "10.250.4.1/24", namespaceAddress: "10.250.4.2/24")
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("wirenet-wg-\(interface)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let keyFile = directory.appendingPathComponent("private")
        try (privateKey.base64 + "\n").write(to: keyFile, atomically: true, encoding: .utf8)
        process = try namespace.spawn(["wireguard-go", interface], environment: ["WG_PROCESS_FOREGROUND": "1"])
        let socket = "/var/run/wireguard/\(interface).sock"
        let deadline = Date().addingTimeInterval(5)
        while !FileManager.default.fileExists(atPath: socket) {
            guard Date() < deadline, process?.isRunning == true else {
                throw UDPDriver.Timeout(what: "wireguard-go socket; output: \(process?.output ?? "")")
            }
            usleep(20_000)
        }
        try namespace.exec(["wg", "set", interface, "private-key", keyFile.path, "listen-port", "\(Self.listenPort)"])
        try configurePeer(ourKey: ourKey, ourPort: ourPort)
        try namespace.exec(["ip", "addr", "add", "100.64.4.2/24", "dev", interface])
        try namespace.exec(["ip", "-6", "addr", "add", "fd7a:115c:a1e0:4::2/64", "dev", interface, "nodad"])
        try namespace.exec(["ip", "link", "set", interface, "up"])
    }

    private func configurePeer(ourKey: PublicKey, ourPort: UInt16?) throws {
        var command = ["wg", "set", interface, "peer", ourKey.description,
                       "allowed-ips", "100.64.4.1/32,fd7a:115c:a1e0:4::1/128"]
        if let ourPort { command += ["endpoint", "10.250.4.1:\(ourPort)"] }
        if let presharedKey {
            let file = directory.appendingPathComponent("psk")
            try (presharedKey.base64 + "\n").write(to: file, atomically: true, encoding: .utf8)
            command += ["preshared-key", file.path]
        }
        try namespace.exec(command)
    }

    /// Removes and re-adds our peer entry, so wireguard-go forgets its sessions.
    func reconfigure(ourKey: PublicKey, ourPort: UInt16) throws {
        try namespace.exec(["wg", "set", interface, "peer", ourKey.description, "remove"])
        try configurePeer(ourKey: ourKey, ourPort: ourPort)
    }

    deinit {
        process?.stop()
        link.destroy()
        namespace.destroy()
        try? FileManager.default.removeItem(at: directory)
    }
}

/// The test's engine: this module over a plain UDP socket on 10.250.4.1.
final class UDPDriver {
    let fd: Int32
    let device: WireGuardDevice
    private(set) var port: UInt16 = 0
    private var buffer = [UInt8](repeating: 0, count: 2048)
    private var peerKey: PublicKey?

    static func monotonic() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    func now() -> NetInstant { NetInstant(nanoseconds: Self.monotonic()) }

    init() throws {
        var wall = timespec()
        clock_gettime(CLOCK_REALTIME, &wall)
        device = WireGuardDevice(configuration: DeviceConfiguration(
            privateKey: PrivateKey(),
            wallClock: WallClockAnchor(
                instant: NetInstant(nanoseconds: Self.monotonic()),
                unixNanoseconds: Int64(wall.tv_sec) * 1_000_000_000 + Int64(wall.tv_nsec))))
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        // Any address, ephemeral port: the peer's namespace (and the veth) may not exist yet, and we
        // only ever send to 10.250.4.2.
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = 0
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        var timeout = timeval(tv_sec: 0, tv_usec: 50_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Adds the wireguard-go peer to the device.
    func configure(peer: WireGuardGoPeer, presharedKey: PresharedKey? = nil, knowEndpoint: Bool = true) throws {
        peerKey = peer.publicKey
        try device.addPeer(PeerConfiguration(
            publicKey: peer.publicKey, presharedKey: presharedKey,
            endpoint: knowEndpoint ? .v4(10, 250, 4, 2, port: WireGuardGoPeer.listenPort) : nil,
            allowedIPs: [IPPrefix("100.64.4.0/24")!, IPPrefix("fd7a:115c:a1e0:4::/64")!]))
    }

    deinit { close(fd) }

    private func transmit(_ bytes: UnsafeRawBufferPointer, to endpoint: IPEndpoint) {
        guard case .v4(let v4) = endpoint.address else { return }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = v4.rawValue.bigEndian
        address.sin_port = endpoint.port.bigEndian
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    }

    /// Sends everything the device has due.
    func flush() {
        while true {
            let result = buffer.withUnsafeMutableBytes { device.poll(into: $0, now: now()) }
            guard case .datagram(let to, let length) = result else { return }
            buffer.withUnsafeBytes { transmit(UnsafeRawBufferPointer(rebasing: $0[0..<length]), to: to) }
        }
    }

    /// Sends one inner IP packet.
    func send(_ packet: [UInt8]) {
        var out = [UInt8](repeating: 0, count: 16 + packet.count + WireGuardDevice.sendTailroom)
        out.replaceSubrange(16..<(16 + packet.count), with: packet)
        let result = out.withUnsafeMutableBytes { device.send($0, packetLength: packet.count, now: now()) }
        if case .datagram(let to, let length) = result {
            out.withUnsafeBytes { transmit(UnsafeRawBufferPointer(rebasing: $0[0..<length]), to: to) }
        }
        flush()
    }

    /// Receives one datagram (50 ms timeout) and returns the inner packet it carried, if any.
    func receiveOnce() -> [UInt8]? {
        var source = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let count = buffer.withUnsafeMutableBytes { raw in
            withUnsafeMutablePointer(to: &source) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, raw.baseAddress, raw.count, 0, $0, &length) }
            }
        }
        defer { flush() }
        guard count > 0 else { return nil }
        let endpoint = IPEndpoint(address: .v4(IPv4Address(rawValue: UInt32(bigEndian: source.sin_addr.s_addr))),
                                port: UInt16(bigEndian: source.sin_port))
        let result = buffer.withUnsafeMutableBytes { device.receive($0, length: count, from: endpoint, now: now()) }
        switch result {
        case .packet(_, let range): return Array(buffer[range])
        case .reply(let to, let length):
            buffer.withUnsafeBytes { transmit(UnsafeRawBufferPointer(rebasing: $0[0..<length]), to: to) }
        case .processed, .dropped: break
        }
        return nil
    }

    struct Timeout: Error, CustomStringConvertible {
        let what: String
        var description: String { "timed out: \(what)" }
    }

    func pump(until done: () -> Bool, timeout: Duration) throws {
        let deadline = now() + timeout
        while !done() {
            guard now() < deadline else { throw Timeout(what: "condition") }
            _ = receiveOnce()
        }
    }

    /// Sends an ICMP echo request through the tunnel and waits for the matching reply.
    func ping(_ destination: IPv4Address, from source: IPv4Address, sequence: UInt16) throws {
        let data = Array("wirenet-\(sequence)".utf8)
        var packet = [UInt8](repeating: 0, count: 20 + 8 + data.count)
        try packet.withUnsafeMutableBytes { raw in
            try data.withUnsafeBytes { body in
                _ = try ICMPv4.echoRequest(identifier: 0x5157, sequenceNumber: sequence, data: body)
                    .emit(into: UnsafeMutableRawBufferPointer(rebasing: raw[20...]))
            }
            try IPv4Header(source: source, destination: destination, protocol: .icmp, payloadLength: 8 + data.count)
                .emit(into: raw)
        }
        try awaitReply(to: packet, timeout: .seconds(5)) { reply in
            reply.withUnsafeBytes { raw in
                guard let ip = try? IPv4Packet(validating: raw), ip.source == destination, ip.destination == source,
                      ip.protocol == .icmp, let message = try? ICMPv4Message(validating: ip.payload),
                      message.isChecksumValid,
                      case .echoReply(0x5157, sequence, let body)? = try? ICMPv4(message)
                else { return false }
                return Array(body) == data
            }
        }
    }

    func ping(_ destination: IPv6Address, from source: IPv6Address, sequence: UInt16) throws {
        let data = Array("wirenet6-\(sequence)".utf8)
        var packet = [UInt8](repeating: 0, count: 40 + 8 + data.count)
        try packet.withUnsafeMutableBytes { raw in
            try data.withUnsafeBytes { body in
                _ = try ICMPv6.echoRequest(identifier: 0x5157, sequenceNumber: sequence, data: body)
                    .emit(into: UnsafeMutableRawBufferPointer(rebasing: raw[40...]), source: source, destination: destination)
            }
            try IPv6Header(source: source, destination: destination, nextHeader: .icmpv6, payloadLength: 8 + data.count)
                .emit(into: raw)
        }
        try awaitReply(to: packet, timeout: .seconds(5)) { reply in
            reply.withUnsafeBytes { raw in
                guard let ip = try? IPv6Packet(validating: raw), ip.source == destination, ip.destination == source,
                      ip.upperLayerProtocol == .icmpv6, let message = try? ICMPv6Message(validating: ip.payload),
                      message.isChecksumValid(source: destination, destination: source),
                      case .echoReply(0x5157, sequence, let body)? = try? ICMPv6(message)
                else { return false }
                return Array(body) == data
            }
        }
    }

    /// Sends `request` (again every second) until a received packet satisfies `isReply`.
    private func awaitReply(to request: [UInt8], timeout: Duration, isReply: ([UInt8]) -> Bool) throws {
        let deadline = now() + timeout
        var resend = now() + .seconds(1)
        send(request)
        while now() < deadline {
            if let packet = receiveOnce(), isReply(packet) { return }
            if now() >= resend {
                send(request)
                resend = now() + .seconds(1)
            }
        }
        throw Timeout(what: "echo reply")
    }

    /// Answers ICMP echo requests arriving through the tunnel until `done`.
    func answerPings(until done: () -> Bool, timeout: Duration) throws {
        let deadline = now() + timeout
        while !done() {
            guard now() < deadline else { throw Timeout(what: "peer pings") }
            guard var packet = receiveOnce() else { continue }
            let reply: [UInt8]? = packet.withUnsafeMutableBytes { raw -> [UInt8]? in
                if let ip = try? IPv4Packet(validating: UnsafeRawBufferPointer(raw)), ip.protocol == .icmp,
                   let message = try? ICMPv4Message(validating: ip.payload),
                   case .echoRequest(let id, let seq, let body)? = try? ICMPv4(message) {
                    var out = [UInt8](repeating: 0, count: 20 + 8 + body.count)
                    out.withUnsafeMutableBytes { o in
                        _ = try? ICMPv4.echoReply(identifier: id, sequenceNumber: seq, data: body)
                            .emit(into: UnsafeMutableRawBufferPointer(rebasing: o[20...]))
                        try? IPv4Header(source: ip.destination, destination: ip.source, protocol: .icmp,
                                        payloadLength: 8 + body.count).emit(into: o)
                    }
                    return out
                }
                if let ip = try? IPv6Packet(validating: UnsafeRawBufferPointer(raw)), ip.upperLayerProtocol == .icmpv6,
                   let message = try? ICMPv6Message(validating: ip.payload),
                   case .echoRequest(let id, let seq, let body)? = try? ICMPv6(message) {
                    var out = [UInt8](repeating: 0, count: 40 + 8 + body.count)
                    out.withUnsafeMutableBytes { o in
                        _ = try? ICMPv6.echoReply(identifier: id, sequenceNumber: seq, data: body)
                            .emit(into: UnsafeMutableRawBufferPointer(rebasing: o[40...]),
                                  source: ip.destination, destination: ip.source)
                        try? IPv6Header(source: ip.destination, destination: ip.source, nextHeader: .icmpv6,
                                        payloadLength: 8 + body.count).emit(into: o)
                    }
                    return out
                }
                return nil
            }
            if let reply { send(reply) }
        }
    }
}
