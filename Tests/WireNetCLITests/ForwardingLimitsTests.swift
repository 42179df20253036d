import Locking
import NetTestSupport
import Testing
import Wire
import WireNet
@testable import WireNetCLI

/// The forwarders' limits per rule and per source address (issue 14): the counting, the UDP flow
/// table asked before a socket is opened, and both through a tunnel between two in-process nodes.
@Suite("Forwarding limits per rule and per source", .serialized)
struct ForwardingLimitsTests {
    @Test func sourceCountsRefuseAtThePerSourceLimitThenAtThePerRuleLimit() {
        var counts = SourceCounts<String>(perRule: 3, perSource: 2)
        #expect(counts.add("a") == nil)
        #expect(counts.add("a") == nil)
        #expect(counts.add("a") == .source)
        #expect(counts.count(of: "a") == 2)
        #expect(counts.add("b") == nil)
        // The rule is full: a new source is refused by the rule, a full source still by its own limit.
        #expect(counts.add("c") == .rule)
        #expect(counts.add("a") == .source)
        #expect(counts.total == 3)
        counts.remove("a")
        #expect(counts.add("c") == nil)
        #expect(counts.add("c") == .rule)
        // Removing what was never added changes nothing.
        counts.remove("z")
        #expect(counts.total == 3)
    }

    @Test func theFlowTableRefusesBeforeAnythingIsInsertedAndFreesAPlaceOnExpiry() throws {
        final class Channel: Sendable {}
        let table = UDPFlowTable<IPEndpoint, Channel>(idleTimeout: .seconds(1), limit: 3, perSourceLimit: 2)
        let a = try #require(IPAddress("100.64.0.1"))
        let b = try #require(IPAddress("100.64.0.2"))
        #expect(table.refusal(for: IPEndpoint(a, 1)) == nil)
        #expect(table.insert(Channel(), for: IPEndpoint(a, 1)) == nil)
        #expect(table.insert(Channel(), for: IPEndpoint(a, 2)) == nil)
        #expect(table.refusal(for: IPEndpoint(a, 3)) == .source)
        #expect(table.insert(Channel(), for: IPEndpoint(a, 3)) == .source)
        #expect(table.count == 2)
        // The same sender again is its existing flow, not a new one.
        let replacement = Channel()
        #expect(table.insert(replacement, for: IPEndpoint(a, 2)) == nil)
        #expect(table.count(from: a) == 2)
        #expect(table.insert(Channel(), for: IPEndpoint(b, 1)) == nil)
        #expect(table.refusal(for: IPEndpoint(b, 2)) == .rule)
        // Expiry gives the places back.
        let expired = table.expire(now: .now + .seconds(2))
        #expect(expired.count == 3)
        #expect(expired.contains { $0 === replacement })
        #expect(table.count == 0 && table.count(from: a) == 0)
        #expect(table.refusal(for: IPEndpoint(a, 3)) == nil)
        // A flow removed by its reply task gives its place back too.
        let channel = Channel()
        #expect(table.insert(channel, for: IPEndpoint(a, 9)) == nil)
        table.remove(IPEndpoint(a, 9), ifChannel: channel)
        #expect(table.count(from: a) == 0)
    }

    @Test func hostAddressesAreCountedWithoutTheirPort() throws {
        let first = try SocketAddress(numericHost: "127.0.0.1", port: 4000)
        let second = try SocketAddress(numericHost: "127.0.0.1", port: 4001)
        let other = try SocketAddress(numericHost: "127.0.0.2", port: 4000)
        #expect(first.source == second.source)
        #expect(first.source != other.source)
        #expect(first.source.port == 0)
        let v6 = try SocketAddress(numericHost: "::1", port: 4000)
        #expect(v6.source == (try SocketAddress(numericHost: "::1", port: 5000)).source)
    }

    @Test func tcpServeResetsConnectionsBeyondThePerSourceLimitWithoutReachingTheService() async throws {
        let reactor = try SocketReactor.shared()
        let pair = try await TunnelPair.start()
        defer { Task { await pair.close() } }
        // A service that accepts and holds its connections.
        let service = try HostListener(address: try loopback(0), reactor: reactor)
        let accepted = AcceptCounter()
        let serviceTask = Task {
            var held: [HostStream] = []
            while let connection = try await service.accept() {
                held.append(connection)
                accepted.increment()
            }
            for connection in held { connection.close() }
        }
        var limits = ForwardingLimits()
        limits.connectionsPerSource = 2
        let serve = try await TCPServeForwarder(
            rule: try ServeRule(parsing: "tcp:7010=127.0.0.1:\(service.localAddress.port)"), target: service.localAddress,
            node: pair.server, reactor: reactor, logger: quietLogger, limits: limits)
        let serving = Task { await serve.run() }
        let target = IPEndpoint(IPAddress(TunnelPair.serverAddress)!, 7010)
        let first = try await pair.client.dial(tcp: target)
        let second = try await pair.client.dial(tcp: target)
        #expect(await eventually { serve.connections.active == 2 && accepted.value == 2 })
        // The third from the same address is accepted by the stack, then reset by the forwarder.
        let third = try await pair.client.dial(tcp: target)
        await #expect(throws: (any Error).self) {
            while try await third.read() != nil {}
            throw ForwardingTestFailure("expected a reset, got end of stream")
        }
        #expect(serve.connections.refusedBySource == 1)
        #expect(serve.connections.refusedByRule == 0)
        #expect(serve.connections.total == 2)
        #expect(accepted.value == 2)
        #expect(serve.connections.summary.hasSuffix("1 refused"))
        // A place given back is a place taken again.
        first.abort()
        #expect(await eventually { serve.limiter.held == 1 })
        let fourth = try await pair.client.dial(tcp: target)
        #expect(await eventually { accepted.value == 3 })
        #expect(serve.connections.refusedBySource == 1)

        for stream in [second, third, fourth] { stream.close() }
        serve.close()
        await serving.value
        service.interrupt()
        try await serviceTask.value
        service.close()
    }

    #if CLI  // Up is the command's argument parsing (the CLI package trait).
    @Test func theTunnelStackPerAddressLimitIsAnOptionOfUp() throws {
        let defaults = try Up.parse(["--config", "wg0.conf"]).upNodeOptions()
        #expect(defaults.maximumConnectionsPerRemoteAddress == 4096)
        let raised = try Up.parse(["--config", "wg0.conf", "--max-tunnel-connections-per-address", "6000"]).upNodeOptions()
        #expect(raised.maximumConnectionsPerRemoteAddress == 6000)
        // The other options are still the CLI's (keepalive on forwarded connections).
        #expect(raised.tcp.keepalive == ForwardingKeepalive.tunnel)
        #expect(throws: CommandFailure.self) {
            try Up.parse(["--config", "wg0.conf", "--max-tunnel-connections-per-address", "0"]).upNodeOptions()
        }
    }

    @Test func theTunnelStackDropsSynsBeyondThePerAddressLimitFromTheCommandLine() async throws {
        let options = try Up.parse(["--config", "wg0.conf", "--max-tunnel-connections-per-address", "2"]).upNodeOptions()
        let pair = try await TunnelPair.start(serverOptions: options)
        defer { Task { await pair.close() } }
        let listener = try await pair.server.listen(tcp: 7011)
        let target = IPEndpoint(IPAddress(TunnelPair.serverAddress)!, 7011)
        let first = try await pair.client.dial(tcp: target)
        let second = try await pair.client.dial(tcp: target)
        #expect(try await pair.server.status().tcpListenerCounters.perAddressLimitDrops == 0)
        // The third SYN from the same address is dropped by the stack (the dial keeps retrying).
        let third = Task { try await pair.client.dial(tcp: target, timeout: .seconds(3)) }
        #expect(await eventually { (try? await pair.server.status().tcpListenerCounters.perAddressLimitDrops) ?? 0 >= 1 })
        third.cancel()
        _ = try? await third.value
        first.close()
        second.close()
        listener.close()
    }
    #endif

    @Test func udpForwardDropsNewSendersBeyondTheLimitsWhileAnotherSourceGetsThrough() async throws {
        let reactor = try SocketReactor.shared()
        let pair = try await TunnelPair.start()
        defer { Task { await pair.close() } }
        let echo = try HostUDPSocket.bound(to: try loopback(0), reactor: reactor)
        let echoAddress = try #require(echo.localAddress)
        let echoTask = Task {
            while let (bytes, from) = try await echo.receive() { try await echo.send(bytes, to: from) }
        }
        var limits = ForwardingLimits()
        limits.flowsPerRule = 3
        limits.flowsPerSource = 2
        let serve = try await UDPServeForwarder(
            rule: try ServeRule(parsing: "udp:7011=127.0.0.1:\(echoAddress.port)"), target: echoAddress,
            node: pair.server, reactor: reactor, logger: quietLogger)
        let forward = try await UDPForwardForwarder(
            rule: ForwardRule(proto: .udp, bind: HostPort(host: "127.0.0.1", port: 0), target: IPEndpoint(IPAddress(TunnelPair.serverAddress)!, 7011)),
            node: pair.client, reactor: reactor, logger: quietLogger, limits: limits,
            // Flows must not expire while the test runs, however slowly a loaded machine runs it
            // (a full parallel run took 126 s: the first flows timed out and freed their places).
            idleTimeout: .seconds(3600))
        let serving = Task { await serve.run() }
        let forwarding = Task { await forward.run() }

        // Three senders on 127.0.0.1 (two fit), then one on 127.0.0.2 (the rule's third place).
        var clients: [HostUDPSocket] = []
        for host in ["127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.2"] {
            clients.append(try HostUDPSocket.bound(to: try SocketAddress(numericHost: host, port: 0, datagram: true), reactor: reactor))
        }
        var echoed: [Bool] = []
        for (index, client) in clients.enumerated() {
            let message = Array("sender \(index)".utf8)
            var reply: [UInt8]?
            for _ in 0..<12 where reply != message {
                try await client.send(message, to: forward.localAddress)
                reply = try await receiveDatagram(on: client, within: .milliseconds(250))
            }
            echoed.append(reply == message)
        }
        #expect(echoed == [true, true, false, true])
        #expect(forward.flows.count == 3)
        #expect(forward.flows.count(from: try SocketAddress(numericHost: "127.0.0.1", port: 0, datagram: true).source) == 2)
        // Every datagram of the third sender was refused (12 tries), none by the rule's limit.
        #expect(await eventually { forward.connections.refusedBySource == 12 })
        #expect(forward.connections.refusedByRule == 0)
        // A fifth sender from a third address finds the rule full.
        let fifth = try HostUDPSocket.bound(to: try SocketAddress(numericHost: "127.0.0.3", port: 0, datagram: true), reactor: reactor)
        try await fifth.send(Array("fifth".utf8), to: forward.localAddress)
        #expect(await eventually { forward.connections.refusedByRule == 1 })
        #expect(forward.connections.total == 3)

        for client in clients + [fifth] { client.close() }
        serve.close()
        forward.close()
        await serving.value
        await forwarding.value
        echo.interrupt()
        try await echoTask.value
        echo.close()
    }
}

/// Connections a test service accepted.
private final class AcceptCounter: Sendable {
    private let count = Lock(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}

private struct ForwardingTestFailure: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

/// The next datagram on `socket`, or nil after `limit`.
private func receiveDatagram(on socket: HostUDPSocket, within limit: Duration) async throws -> [UInt8]? {
    try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
        group.addTask { try await socket.receive()?.bytes }
        group.addTask { try await Task.sleep(for: limit); return nil }
        let first = try await group.next() ?? nil
        group.cancelAll()
        return first
    }
}
