import Testing
import Wire
@testable import NetStack

/// Many short connections between two stacks on a clean simulated link, the way perf/run.sh's
/// connection test (and any HTTP/1.0-style client) uses them: connect, the server writes one byte and
/// closes first (so TIME-WAIT stays on the server, RFC 9293 §3.6), the client reads to the end and closes.
@Suite("Connection set-up between two stacks")
struct ConnectionSetupSimulationTests {
    /// RFC 9293 §3.10.7.4 (TIME-WAIT) with RFC 6191 / RFC 6528 §3: a client reusing a 4-tuple that the
    /// server still holds in TIME-WAIT must be accepted at once, so ISS and TSval must grow per 4-tuple;
    /// and RFC 6056 §3.3.3 port selection should not pick a recently used port in the first place. A SYN
    /// the server refuses costs the client its 1 s initial RTO (RFC 6298 §2.1).
    @Test("RFC 6528 §3 / RFC 6056 §3.3.3: 2000 sequential connections, each set up within 2 RTTs, none waits for the initial RTO")
    func noSetupStallsAgainstServerTimeWait() throws {
        let clientAddress = IPAddress("100.64.6.1")!
        let serverAddress = IPAddress("100.64.6.2")!
        var clientConfig = IPStackConfiguration(addresses: [clientAddress])
        clientConfig.randomSeed = 21
        var serverConfig = IPStackConfiguration(addresses: [serverAddress])
        serverConfig.randomSeed = 22
        let client = IPStack(configuration: clientConfig)
        let server = IPStack(configuration: serverConfig)
        let listener = try server.listen(port: 8080)
        let oneWay: Int64 = 1_000_000  // 1 ms each way: RTT 2 ms
        var toServer: [(NetInstant, [UInt8])] = []
        var toClient: [(NetInstant, [UInt8])] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        defer { buffer.deallocate() }
        var now = NetInstant.zero
        var slowest: Int64 = 0
        var stalls = 0
        let connections = 2000

        func pump() {
            while let n = client.nextOutgoingPacket(into: buffer, now: now) {
                toServer.append((now + oneWay, Array(buffer.prefix(n))))
            }
            while let n = server.nextOutgoingPacket(into: buffer, now: now) {
                toClient.append((now + oneWay, Array(buffer.prefix(n))))
            }
        }

        for _ in 0..<connections {
            let started = now
            let socket = try client.connect(to: IPEndpoint(serverAddress, 8080), now: now)
            var established: NetInstant? = nil
            var served: TCPSocketHandle? = nil
            var serverDone = false
            var clientDone = false
            var steps = 0
            pump()
            while !clientDone {
                steps += 1
                #expect(steps < 10_000)
                if steps >= 10_000 { return }
                let next = [toServer.first?.0, toClient.first?.0, client.nextDeadline, server.nextDeadline]
                    .compactMap { $0 }.min()!
                now = Swift.max(now, next)
                while let first = toServer.first, first.0 <= now {
                    toServer.removeFirst()
                    first.1.withUnsafeBytes { server.receive($0, now: now) }
                }
                while let first = toClient.first, first.0 <= now {
                    toClient.removeFirst()
                    first.1.withUnsafeBytes { client.receive($0, now: now) }
                }
                client.handleTimers(now: now)
                server.handleTimers(now: now)
                client.pollEvents { _, _ in }
                server.pollEvents { _, _ in }
                if established == nil, let state = client.status(of: socket)?.state, state != .synSent {
                    established = now
                }
                if served == nil, let accepted = try server.accept(listener) {
                    served = accepted
                    _ = try [UInt8(7)].withUnsafeBytes { try server.send(accepted, $0) }
                    server.close(accepted, now: now)
                    serverDone = true
                }
                if serverDone, let status = client.status(of: socket), status.readableBytes > 0 || status.isAtEndOfStream {
                    var byte = [UInt8](repeating: 0, count: 1)
                    _ = byte.withUnsafeMutableBytes { try? client.receive(socket, into: $0) }
                    if client.status(of: socket)?.isAtEndOfStream == true {
                        client.close(socket, now: now)
                        clientDone = true
                    }
                }
                pump()
            }
            let setup = (established ?? now) - started
            slowest = Swift.max(slowest, setup)
            if setup > 4 * 2 * oneWay { stalls += 1 }
            // Let the client's LAST-ACK finish before the next connection.
            now = now + 3 * oneWay
            while let first = toServer.first, first.0 <= now {
                toServer.removeFirst()
                first.1.withUnsafeBytes { server.receive($0, now: now) }
            }
            while let first = toClient.first, first.0 <= now {
                toClient.removeFirst()
                first.1.withUnsafeBytes { client.receive($0, now: now) }
            }
            client.handleTimers(now: now)
            server.handleTimers(now: now)
            pump()
        }
        #expect(stalls == 0, "\(stalls) of \(connections) connections waited for a retransmitted SYN; slowest set-up \(Double(slowest) / 1e6) ms")
        #expect(server.connectionCount >= connections / 2, "TIME-WAIT is held on the server, so 4-tuples were reused against it")
    }
}

@Suite("Connection identifiers (ISS, timestamp offset, ephemeral port)")
struct ConnectionIdentifierTests {
    let local = IPEndpoint(IPAddress("100.64.6.1")!, 50000)
    let remote = IPEndpoint(IPAddress("100.64.6.2")!, 8080)

    func identifiers(seed: UInt64) -> ConnectionIdentifiers {
        var random = RandomSource(seed: seed)
        return ConnectionIdentifiers(random: &random)
    }

    @Test("RFC 6528 §3: ISS of one 4-tuple advances with the 4 µs clock M, so a later incarnation starts above an earlier one")
    func issAdvancesPerFourTuple() {
        let ids = identifiers(seed: 1)
        let first = ids.initialSequenceNumber(local: local, remote: remote, now: NetInstant(nanoseconds: 1_000_000_000))
        let later = ids.initialSequenceNumber(local: local, remote: remote, now: NetInstant(nanoseconds: 1_004_000_000))
        #expect(later - first == 1000)
        let other = ids.initialSequenceNumber(
            local: IPEndpoint(local.address, 50001), remote: remote, now: NetInstant(nanoseconds: 1_000_000_000))
        #expect(other != first, "F() depends on the 4-tuple")
    }

    @Test("RFC 7323 §5.4 / RFC 6191 §2: the timestamp offset is fixed per 4-tuple, so TSval grows across incarnations")
    func timestampOffsetPerFourTuple() {
        let ids = identifiers(seed: 2)
        #expect(ids.timestampOffset(local: local, remote: remote) == ids.timestampOffset(local: local, remote: remote))
        #expect(ids.timestampOffset(local: local, remote: remote)
            != ids.timestampOffset(local: IPEndpoint(local.address, 50001), remote: remote))
        #expect(identifiers(seed: 3).timestampOffset(local: local, remote: remote)
            != ids.timestampOffset(local: local, remote: remote), "the secret comes from the random source")
    }

    @Test("RFC 6056 §3.3.3: successive ephemeral ports towards one destination cover the whole range before repeating")
    func ephemeralPortsCycle() {
        var ids = identifiers(seed: 4)
        var seen = Set<UInt16>()
        for _ in 0..<ConnectionIdentifiers.ephemeralPorts.count {
            let port = ids.nextEphemeralPort(local: local.address, remote: remote)
            #expect(ConnectionIdentifiers.ephemeralPorts.contains(port))
            seen.insert(port)
        }
        #expect(seen.count == ConnectionIdentifiers.ephemeralPorts.count)
    }
}
