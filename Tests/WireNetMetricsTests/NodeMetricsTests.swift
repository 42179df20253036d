import Metrics
import MetricsTestKit
import NetTestSupport
import Testing
import WireNet
import WireNetMetrics

/// NodeMetrics' values after a known transfer: 1 MiB client → server over TCP between two nodes on
/// UDP loopback (tunnel addresses 10.231.3.0/24), checked by SHA-256; and the TCP retransmission
/// counters after a lossy one (10.231.5.0/24, through ``LossyUDPRelay``).
@Suite("Node metrics after a known transfer", .serialized)
struct NodeMetricsTests {
    static let size = 1 << 20

    @Test func packetsBytesAndEngineLoadAfterOneMebibyte() async throws {
        let serverKey = PrivateKey()
        let clientKey = PrivateKey()
        let server = Node(configuration: NodeConfiguration(
            privateKey: serverKey, addresses: [IPPrefix("10.231.3.1/32")!],
            peers: [.init(publicKey: clientKey.publicKey, allowedIPs: [IPPrefix("10.231.3.2/32")!])]))
        try await server.start()
        defer { Task { await server.close() } }
        let client = Node(configuration: NodeConfiguration(
            privateKey: clientKey, addresses: [IPPrefix("10.231.3.2/32")!],
            peers: [.init(publicKey: serverKey.publicKey,
                          endpoint: PeerEndpoint(host: "127.0.0.1", port: try await server.status().listenPort),
                          allowedIPs: [IPPrefix("10.231.3.1/32")!])]))
        try await client.start()
        defer { Task { await client.close() } }

        let listener = try await server.listen(tcp: 7300)
        let receiver = Task {
            let stream = try #require(try await listener.accept())
            var digest = SHA256Digest()
            var total = 0
            while let chunk = try await stream.read() { digest.update(chunk); total += chunk.count }
            return (total, digest.finish())
        }
        let stream = try await client.dial(tcp: IPEndpoint(IPAddress("10.231.3.1")!, 7300))
        var source = PatternSource(seed: 16)
        var digest = SHA256Digest()
        var sent = 0
        while sent < Self.size {
            let chunk = source.next(min(64 * 1024, Self.size - sent))
            digest.update(chunk)
            try await stream.write(chunk)
            sent += chunk.count
        }
        try await stream.shutdownWrite()
        let (received, hash) = try await receiver.value
        #expect(received == Self.size)
        #expect(hash == digest.finish())
        stream.close()
        try await Task.sleep(for: .milliseconds(200))  // the last ACKs and FINs arrive

        let serverMetrics = TestMetrics()
        let clientMetrics = TestMetrics()
        try await NodeMetrics(node: server, factory: serverMetrics).sample()
        try await NodeMetrics(node: client, factory: clientMetrics).sample()
        let serverStatus = try await server.status()
        let clientStatus = try await client.status()
        let fromClient = [("peer", clientKey.publicKey.description)]
        let toServer = [("peer", serverKey.publicKey.description)]

        // Packets: the server got at least one WireGuard message per MTU of payload, and the client
        // sent every one of them (loopback loses nothing).
        let receivedPackets = try serverMetrics.expectCounter("wirenet_peer_received_packets_total", fromClient).totalValue
        let sentPackets = try clientMetrics.expectCounter("wirenet_peer_sent_packets_total", toServer).totalValue
        #expect(receivedPackets >= Int64(Self.size / NodeConfiguration.defaultMTU))
        #expect(sentPackets >= receivedPackets)
        #expect(UInt64(receivedPackets) <= serverStatus.peers[0].receivedPackets)
        #expect(try serverMetrics.expectCounter("wirenet_peer_received_bytes_total", fromClient).totalValue >= Int64(Self.size))
        // The server's replies are mostly ACKs: fewer messages than the data it received.
        let ackPackets = try serverMetrics.expectCounter("wirenet_peer_sent_packets_total", fromClient).totalValue
        #expect(ackPackets > 0 && ackPackets <= receivedPackets)
        #expect(clientStatus.peers[0].receivedPackets >= UInt64(ackPackets))

        // Engine load: turns taken, working time per turn between zero and the test's duration.
        let turns = try serverMetrics.expectCounter("wirenet_engine_loop_turns_total").totalValue
        #expect(turns > 0)
        #expect(UInt64(turns) <= serverStatus.engineLoopTurns)
        let perTurn = try #require(try serverMetrics.expectGauge("wirenet_engine_turn_seconds").lastValue)
        #expect(perTurn > 0 && perTurn < 1)
        #expect(serverStatus.engineBusyTime > .zero)

        // A second sample: the busy share of the wall time in between, and counters that only grow.
        let metrics = NodeMetrics(node: server, factory: serverMetrics)
        try await metrics.sample()
        try await Task.sleep(for: .milliseconds(100))
        try await metrics.sample()
        let ratio = try #require(try serverMetrics.expectGauge("wirenet_engine_busy_ratio").lastValue)
        #expect(ratio >= 0 && ratio <= 1)
        listener.close()
    }

    /// 2 MiB through a relay that drops every 25th full-sized datagram from the client: every
    /// dropped segment is sent again at least once (by fast retransmit, SACK recovery, a tail loss
    /// probe or the timer), so the client's retransmissions are at least the drops; the server,
    /// which sends no data, retransmits none.
    @Test func retransmissionsAfterALossyTransferAreAtLeastTheDrops() async throws {
        let size = 2 << 20
        let serverKey = PrivateKey()
        let clientKey = PrivateKey()
        let server = Node(configuration: NodeConfiguration(
            privateKey: serverKey, addresses: [IPPrefix("10.231.5.1/32")!],
            peers: [.init(publicKey: clientKey.publicKey, allowedIPs: [IPPrefix("10.231.5.2/32")!])]))
        try await server.start()
        defer { Task { await server.close() } }
        let relay = try LossyUDPRelay(serverPort: try await server.status().listenPort, dropEvery: 25)
        defer { relay.stop() }
        let client = Node(configuration: NodeConfiguration(
            privateKey: clientKey, addresses: [IPPrefix("10.231.5.2/32")!],
            peers: [.init(publicKey: serverKey.publicKey,
                          endpoint: PeerEndpoint(host: "127.0.0.1", port: relay.clientFacingPort),
                          allowedIPs: [IPPrefix("10.231.5.1/32")!])]))
        try await client.start()
        defer { Task { await client.close() } }

        let listener = try await server.listen(tcp: 7301)
        let receiver = Task {
            let stream = try #require(try await listener.accept())
            var digest = SHA256Digest()
            var total = 0
            while let chunk = try await stream.read() { digest.update(chunk); total += chunk.count }
            return (total, digest.finish())
        }
        let stream = try await client.dial(tcp: IPEndpoint(IPAddress("10.231.5.1")!, 7301))
        var source = PatternSource(seed: 17)
        var digest = SHA256Digest()
        var sent = 0
        while sent < size {
            let chunk = source.next(min(64 * 1024, size - sent))
            digest.update(chunk)
            try await stream.write(chunk)
            sent += chunk.count
        }
        try await stream.shutdownWrite()
        let (received, hash) = try await receiver.value
        #expect(received == size)
        #expect(hash == digest.finish())
        stream.close()
        try await Task.sleep(for: .milliseconds(200))

        let dropped = relay.dropped
        // ~1,500 full-sized segments: ~60 dropped.
        #expect(dropped >= size / 1500 / 25 / 2)
        let clientMetrics = TestMetrics()
        try await NodeMetrics(node: client, factory: clientMetrics).sample()
        let clientStatus = try await client.status()
        let kinds = ["timeout", "fast_retransmit", "loss_recovery", "tail_loss_probe"]
        var reported: Int64 = 0
        for kind in kinds {
            // A kind that never happened has no counter yet.
            if let counter = try? clientMetrics.expectCounter("wirenet_tcp_retransmitted_segments_total", [("kind", kind)]) {
                reported += counter.totalValue
            }
        }
        #expect(reported >= Int64(dropped))
        #expect(UInt64(reported) <= clientStatus.tcpRetransmissions.total)
        let counts = clientStatus.tcpRetransmissions
        #expect(counts.total == counts.timeout + counts.fastRetransmit + counts.lossRecovery + counts.tailLossProbe)
        // With SACK most losses are repaired without waiting for the timer.
        #expect(counts.fastRetransmit + counts.lossRecovery > 0)

        let serverStatus = try await server.status()
        #expect(serverStatus.tcpRetransmissions.fastRetransmit + serverStatus.tcpRetransmissions.lossRecovery == 0)
        listener.close()
    }

    /// The forwarding rules' metrics (`wirenet up --metrics`): refusals per limit advance by what
    /// the rule's totals grew between samples; the active count is a gauge.
    @Test func forwardingRefusalsAdvanceByTheirGrowthPerLimit() throws {
        let metrics = TestMetrics()
        let node = Node(configuration: NodeConfiguration(
            privateKey: PrivateKey(), addresses: [IPPrefix("10.231.4.1/32")!], peers: []))
        let recorder = NodeMetrics(node: node, factory: metrics)
        let rule = "serve tcp:80=127.0.0.1:8080"
        recorder.record(forwarding: [ForwardingRuleSample(rule: rule, active: 2, total: 5, refusedByRule: 0, refusedBySource: 3)])
        recorder.record(forwarding: [ForwardingRuleSample(rule: rule, active: 1, total: 6, refusedByRule: 1, refusedBySource: 7)])
        #expect(try metrics.expectCounter("wirenet_forward_refused_total", [("limit", "source"), ("rule", rule)]).totalValue == 7)
        #expect(try metrics.expectCounter("wirenet_forward_refused_total", [("limit", "rule"), ("rule", rule)]).totalValue == 1)
        #expect(try metrics.expectCounter("wirenet_forward_total", [("rule", rule)]).totalValue == 6)
        #expect(try metrics.expectGauge("wirenet_forward_active", [("rule", rule)]).lastValue == 1)
    }
}
