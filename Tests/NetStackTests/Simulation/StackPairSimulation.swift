import Testing
import Wire
@testable import NetStack

/// Two `IPStack`s joined by faulty links carrying raw IP packets, on a virtual clock. A client connects
/// to a listening server, writes `total` pseudo-random bytes and closes; the server reads to the end and
/// closes. Everything is checked by sha256.
struct StackPairSimulation {
    let client: IPStack
    let server: IPStack
    var clientToServer: FaultyLink<[UInt8]>
    var serverToClient: FaultyLink<[UInt8]>
    var now = NetInstant.zero
    var source: PatternSource
    var sink = SHA256Stream()
    var received = 0
    var listener: TCPListenerHandle
    var clientSocket: TCPSocketHandle
    var serverSocket: TCPSocketHandle? = nil
    var clientClosed = false
    var serverClosed = false
    var steps = 0
    var packets = 0
    var observer: ((StackPairSimulation) -> Void)? = nil
    var onClientPacket: (([UInt8], NetInstant) -> Void)? = nil
    var onServerPacket: (([UInt8], NetInstant) -> Void)? = nil
    /// When the server had read the last byte (the transfer time, without the closing handshake and
    /// TIME-WAIT).
    var completedAt: NetInstant? = nil
    let buffer: UnsafeMutableRawBufferPointer

    init(
        total: Int, seed: UInt64, family: IPAddress.Family, mtu: Int, forward: LinkImpairments,
        backward: LinkImpairments, tcp: TCPConnection.Configurator = { _ in },
        stack: (inout IPStackConfiguration) -> Void = { _ in }
    ) throws {
        let (clientAddress, serverAddress): (IPAddress, IPAddress) =
            family == .v4
            ? (IPAddress("100.64.6.1")!, IPAddress("100.64.6.2")!)
            : (IPAddress("fd7a:115c:a1e0:6::1")!, IPAddress("fd7a:115c:a1e0:6::2")!)
        var clientConfig = IPStackConfiguration(addresses: [clientAddress])
        clientConfig.mtu = mtu
        clientConfig.randomSeed = seed
        clientConfig.tcp.timeWaitDuration = .seconds(1)
        tcp(&clientConfig.tcp)
        stack(&clientConfig)
        var serverConfig = IPStackConfiguration(addresses: [serverAddress])
        serverConfig.mtu = mtu
        serverConfig.randomSeed = seed &+ 100
        serverConfig.tcp.timeWaitDuration = .seconds(1)
        tcp(&serverConfig.tcp)
        stack(&serverConfig)
        client = IPStack(configuration: clientConfig)
        server = IPStack(configuration: serverConfig)
        clientToServer = FaultyLink(forward, seed: seed &+ 1)
        serverToClient = FaultyLink(backward, seed: seed &+ 2)
        source = PatternSource(total: total, seed: seed)
        listener = try server.listen(port: 8080)
        clientSocket = try client.connect(to: IPEndpoint(serverAddress, 8080), now: .zero)
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
    }

    mutating func run(maxSteps: Int = 5_000_000) -> Bool {
        defer { buffer.deallocate() }
        pump()
        while steps < maxSteps {
            steps += 1
            if isDone { return true }
            guard let next = earliest(
                earliest(clientToServer.nextArrival, serverToClient.nextArrival),
                earliest(client.nextDeadline, server.nextDeadline))
            else { return false }
            now = Swift.max(now, next)
            for packet in clientToServer.takeDue(now: now) {
                packet.withUnsafeBytes { server.receive($0, now: now) }
            }
            for packet in serverToClient.takeDue(now: now) {
                packet.withUnsafeBytes { client.receive($0, now: now) }
            }
            client.handleTimers(now: now)
            server.handleTimers(now: now)
            runApplications()
            pump()
            observer?(self)
        }
        return false
    }

    var isDone: Bool {
        received == source.total && serverClosed && server.connectionCount == 0 && client.connectionCount == 0
    }

    private mutating func runApplications() {
        client.pollEvents { _, _ in }
        server.pollEvents { _, _ in }
        if !source.isFinished {
            let socket = clientSocket
            let stack = client
            source.feed { (try? stack.send(socket, $0)) ?? 0 }
        }
        if source.isFinished && !clientClosed, client.status(of: clientSocket)?.state == .established {
            clientClosed = true
            client.close(clientSocket, now: now)
        }
        if serverSocket == nil { serverSocket = try? server.accept(listener) }
        guard let socket = serverSocket, !serverClosed else { return }
        while true {
            let n = (try? server.receive(socket) { chunk in
                sink.update(chunk)
                return chunk.count
            }) ?? 0
            if n == 0 { break }
            received += n
        }
        if received == source.total && completedAt == nil { completedAt = now }
        if server.status(of: socket)?.isAtEndOfStream == true {
            serverClosed = true
            server.close(socket, now: now)
        }
    }

    private mutating func pump() {
        while let n = client.nextOutgoingPacket(into: buffer, now: now) {
            onClientPacket?(Array(UnsafeRawBufferPointer(rebasing: buffer.prefix(n))), now)
            clientToServer.send(Array(UnsafeRawBufferPointer(rebasing: buffer.prefix(n))), size: n, now: now)
            packets += 1
        }
        while let n = server.nextOutgoingPacket(into: buffer, now: now) {
            onServerPacket?(Array(UnsafeRawBufferPointer(rebasing: buffer.prefix(n))), now)
            serverToClient.send(Array(UnsafeRawBufferPointer(rebasing: buffer.prefix(n))), size: n, now: now)
            packets += 1
        }
    }
}

extension IPAddress {
    enum Family { case v4, v6 }
}

extension TCPConnection {
    typealias Configurator = (inout TCPConfiguration) -> Void
}

@Suite("Two stacks over a simulated faulty network")
struct StackSimulationTests {
    static let tenMegabytes = 10 * 1024 * 1024

    func transfer(
        family: IPAddress.Family, mtu: Int, seed: UInt64, link: LinkImpairments,
        tcp: @escaping TCPConnection.Configurator = { _ in }
    ) throws {
        var sim = try StackPairSimulation(
            total: Self.tenMegabytes, seed: seed, family: family, mtu: mtu, forward: link, backward: link, tcp: tcp)
        let finished = sim.run()
        #expect(finished, "stalled at \(sim.now): received \(sim.received), connections \(sim.client.connectionCount)/\(sim.server.connectionCount)")
        #expect(sim.received == Self.tenMegabytes)
        var expected = PatternSource(total: Self.tenMegabytes, seed: seed)
        expected.feed { $0.count }
        #expect(sim.sink.finish() == expected.digest(), "sha256 of the received stream differs")
        #expect(sim.client.counters.badChecksum == 0 && sim.server.counters.badChecksum == 0)
        #expect(sim.client.counters.malformed == 0 && sim.server.counters.malformed == 0)
        let seconds = Double(sim.now.nanoseconds) / 1e9
        print("stack simulation \(family) mtu \(mtu) seed \(seed): \(Self.tenMegabytes) bytes, \(seconds) s virtual, \(sim.packets) packets")
    }

    @Test("IPv4, 1420 MTU, 1% loss, 1% duplication, 2% reordering: 10 MB intact (sha256)")
    func ipv4Lossy() throws {
        try transfer(
            family: .v4, mtu: 1420, seed: 11,
            link: LinkImpairments(loss: 0.01, duplication: 0.01, reordering: 0.02, delay: .milliseconds(5), bytesPerSecond: 100_000_000))
    }

    @Test("IPv6, 1280 MTU (the minimum), 5% loss and reordering: 10 MB intact (sha256)")
    func ipv6SmallMTU() throws {
        try transfer(
            family: .v6, mtu: 1280, seed: 12,
            link: LinkImpairments(loss: 0.05, reordering: 0.05, delay: .milliseconds(3), bytesPerSecond: 100_000_000))
    }

    @Test("IPv4, 10% loss, 5% duplication, 5% reordering, 20 ms delay: 10 MB intact (sha256)")
    func ipv4HeavyLoss() throws {
        try transfer(
            family: .v4, mtu: 1500, seed: 13,
            link: LinkImpairments(loss: 0.10, duplication: 0.05, reordering: 0.05, delay: .milliseconds(20)))
    }

    @Test("IPv6, jumbo 9000 MTU, clean bottleneck link: 10 MB intact (sha256)")
    func ipv6Jumbo() throws {
        try transfer(
            family: .v6, mtu: 9000, seed: 14,
            link: LinkImpairments(delay: .milliseconds(1), bytesPerSecond: 1_000_000_000, queueLimit: 500))
    }
}
