import Testing
import Wire
@testable import NetStack

/// Transfers through on-demand buffers under a node-wide budget (`tcpBufferMemoryLimit`): the data
/// arrives intact (sha256), nothing deadlocks, and neither the memory held nor the windows advertised
/// exceed the budget.
@Suite("TCP buffers on demand under a node-wide budget")
struct BufferBudgetSimulationTests {
    static let budget = 64 << 10

    @Test(
        "2 MB at 2 % loss and reordering with a 64 KiB node budget on both ends: intact, windows and memory within the budget",
        arguments: [(UInt64(41), 0.02), (UInt64(42), 0.0)])
    func transferWithinBudget(seed: UInt64, loss: Double) throws {
        let total = 2 << 20
        let link = LinkImpairments(
            loss: loss, reordering: loss, delay: .milliseconds(5), bytesPerSecond: 20_000_000)
        var sim = try StackPairSimulation(
            total: total, seed: seed, family: .v4, mtu: 1420, forward: link, backward: link,
            stack: { $0.tcpBufferMemoryLimit = Self.budget })
        // The server's receive buffer may hold up to 1 MiB (window scale 5), but no window it
        // advertises may promise more than the node's budget.
        let scale = Int(TCPConnection.windowScale(for: TCPConfiguration().receiveBufferSize))
        var largestWindow = 0
        var segments = 0
        sim.onServerPacket = { packet, _ in
            packet.withUnsafeBytes { raw in
                guard let ip = try? IPv4Packet(validating: raw), let tcp = try? TCPSegment(validating: ip.payload),
                      !tcp.flags.contains(.syn) else { return }
                segments += 1
                largestWindow = Swift.max(largestWindow, Int(tcp.window) << scale)
            }
        }
        var overBudget = 0
        sim.observer = { sim in
            if sim.client.tcpBufferBytesInUse > Self.budget || sim.server.tcpBufferBytesInUse > Self.budget {
                overBudget += 1
            }
        }
        let finished = sim.run()
        #expect(finished, "stalled at \(sim.now): received \(sim.received)")
        #expect(sim.received == total)
        var expected = PatternSource(total: total, seed: seed)
        expected.feed { $0.count }
        #expect(sim.sink.finish() == expected.digest(), "sha256 of the received stream differs")
        #expect(segments > 100)
        #expect(largestWindow <= Self.budget, "a window of \(largestWindow) bytes against a budget of \(Self.budget)")
        #expect(largestWindow >= Self.budget / 2, "the budget, not something smaller, bounds the window")
        #expect(overBudget == 0)
        #expect(sim.server.tcpBufferPeakBytes <= Self.budget && sim.client.tcpBufferPeakBytes <= Self.budget)
        // Send buffers leave an eighth of the budget to receive buffers.
        #expect(sim.client.tcpBufferPeakBytes <= Self.budget - Self.budget / 8)
        #expect(sim.client.tcpBufferBytesInUse == 0 && sim.server.tcpBufferBytesInUse == 0)
        print("budget \(Self.budget) seed \(seed) loss \(loss): \(Double(sim.now.nanoseconds) / 1e9) s virtual, largest window \(largestWindow), peaks \(sim.client.tcpBufferPeakBytes)/\(sim.server.tcpBufferPeakBytes)")
    }

    @Test("four connections writing and reading both ways share a 32 KiB node budget at 1 % loss: every stream intact, no deadlock")
    func connectionsShareBudget() throws {
        let budget = 32 << 10
        let pair = StackPair(delay: .milliseconds(2), stack: { $0.tcpBufferMemoryLimit = budget })
        pair.aToB = FaultyLink(LinkImpairments(loss: 0.01, delay: .milliseconds(2)), seed: 81)
        pair.bToA = FaultyLink(LinkImpairments(loss: 0.01, delay: .milliseconds(2)), seed: 82)
        let perStream = 256 << 10
        var ends: [(client: TCPSocketHandle, server: TCPSocketHandle)] = []
        for port in UInt16(9001)...9004 { ends.append(try pair.connect(port: port)) }
        // Per stream (connection × direction): a source, a sink and the bytes received.
        var sources = (0..<8).map { PatternSource(total: perStream, seed: 90 + UInt64($0)) }
        var sinks = (0..<8).map { _ in SHA256Stream() }
        var received = [Int](repeating: 0, count: 8)
        var overBudget = 0
        pair.run(until: pair.now + .seconds(120)) {
            for (k, end) in ends.enumerated() {
                for (direction, (writer, writerSocket, reader, readerSocket)) in [
                    (pair.a, end.client, pair.b, end.server), (pair.b, end.server, pair.a, end.client),
                ].enumerated() {
                    let stream = 2 * k + direction
                    if !sources[stream].isFinished {
                        sources[stream].feed { (try? writer.send(writerSocket, $0)) ?? 0 }
                    }
                    while true {
                        let n = (try? reader.receive(readerSocket) { chunk in
                            sinks[stream].update(chunk)
                            return chunk.count
                        }) ?? 0
                        if n == 0 { break }
                        received[stream] += n
                    }
                }
            }
            if pair.a.tcpBufferBytesInUse > budget || pair.b.tcpBufferBytesInUse > budget { overBudget += 1 }
        }
        #expect(received == [Int](repeating: perStream, count: 8), "stalled at \(pair.now): \(received)")
        for stream in 0..<8 {
            var expected = PatternSource(total: perStream, seed: 90 + UInt64(stream))
            expected.feed { $0.count }
            #expect(sinks[stream].finish() == expected.digest(), "stream \(stream): sha256 differs")
        }
        #expect(overBudget == 0)
        #expect(pair.a.tcpBufferPeakBytes <= budget && pair.b.tcpBufferPeakBytes <= budget)
    }

    @Test("an idle established connection holds no buffer memory, before and after a transfer; unread bytes hold one chunk")
    func idleConnectionHoldsNoBuffers() throws {
        let pair = StackPair()
        let (client, server) = try pair.connect()
        #expect(pair.a.tcpBufferBytesInUse == 0 && pair.b.tcpBufferBytesInUse == 0)
        for socket in [client] {
            let connection = try #require(pair.a.tcpSlots[Int(socket.index)].connection)
            #expect(connection.bufferBytesHeld == 0)
        }
        // Ten unread bytes on B hold one 4 KiB chunk there; A's copy goes once acknowledged.
        #expect(pair.write(pair.a, client, remaining: 10) == 0)
        pair.run(until: pair.now + .seconds(1))
        #expect(pair.a.status(of: client)?.state == .established)
        #expect(pair.b.tcpBufferBytesInUse == 4096)
        #expect(pair.a.tcpBufferBytesInUse == 0)
        // A megabyte each way, read to the end: every chunk goes back.
        var left = (a: 1 << 20, b: 1 << 20)
        pair.run(until: pair.now + .seconds(30)) {
            left.a = pair.write(pair.a, client, remaining: left.a)
            left.b = pair.write(pair.b, server, remaining: left.b)
            pair.drain(pair.a, client)
            pair.drain(pair.b, server)
        }
        #expect(left.a == 0 && left.b == 0)
        #expect(pair.a.tcpBufferBytesInUse == 0 && pair.b.tcpBufferBytesInUse == 0)
        #expect(pair.a.tcpBufferPeakBytes > 64 << 10)
        let connection = try #require(pair.b.tcpSlots[Int(server.index)].connection)
        #expect(connection.bufferBytesHeld == 0)
        #expect(connection.state == .established)
    }
}
