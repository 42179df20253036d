import NetStack
import Testing
import Wire
import WireGuard
@testable import WireNet

/// Issue 13: a completion that only lets its caller go on (a write whose bytes are all in the send
/// buffer, a forwarded read whose consumer took every byte) is resumed after the turn's packets are
/// out, not before them: resuming wakes an executor thread, and on a forwarded round trip that
/// wake-up came before the response's segment was sealed and sent. Driven by hand here — this test
/// is the loop: deliver, service, collect packets, finish the turn.
@Suite("Completions held until the turn's packets are out")
struct DeferredResumptionTests {
    static let serverAddress = IPAddress("100.64.6.2")!
    static let clientAddress = IPAddress("100.64.6.1")!

    /// A userspace stack (the node's backend) and a plain NetStack peer, joined by hand.
    final class Pair {
        let server = UserspaceStack(configuration: IPStackConfiguration(addresses: [DeferredResumptionTests.serverAddress]), clock: .system)
        let client = IPStack(configuration: IPStackConfiguration(addresses: [DeferredResumptionTests.clientAddress]))
        let peer = PrivateKey().publicKey
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        var now: NetInstant { EngineClock.system.now() }

        deinit { buffer.deallocate() }

        /// Moves packets both ways until neither side has any; returns how many the server sent.
        @discardableResult
        func exchange() -> Int {
            var serverPackets = 0
            var moved = true
            while moved {
                moved = false
                server.service(now: now)
                while let n = client.nextOutgoingPacket(into: buffer, now: now) {
                    server.deliver(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<n]), from: peer, now: now)
                    moved = true
                }
                server.service(now: now)
                while let n = server.nextOutbound(into: buffer, now: now) {
                    client.receive(UnsafeRawBufferPointer(rebasing: buffer[0..<n]), now: now)
                    serverPackets += 1
                    moved = true
                }
            }
            return serverPackets
        }
    }

    /// An accepted connection: the server's socket and the client's.
    func connect(_ pair: Pair) async throws -> (TCPSocketHandle, TCPSocketHandle) {
        let listener = try pair.server.listen(port: 80, backlog: 8)
        let client = try pair.client.connect(to: IPEndpoint(Self.serverAddress, 80), now: pair.now)
        pair.exchange()
        let info = try await withCheckedThrowingContinuation { continuation in
            pair.server.accept(listener, id: pair.server.makeCallID(), continuation: continuation)
        }
        return (try #require(info).socket, client)
    }

    @Test func aCompletedWriteResumesOnlyWhenTheTurnFinishes() async throws {
        let pair = Pair()
        let (socket, client) = try await connect(pair)
        var heldAfterWrite = -1
        var segmentsBeforeResume = 0
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            pair.server.write(socket, id: pair.server.makeCallID(), [UInt8](repeating: 7, count: 64), continuation: .task(continuation))
            heldAfterWrite = pair.server.deferredResumptionCount
            segmentsBeforeResume = pair.exchange()
            pair.server.finishTurn()
        }
        #expect(heldAfterWrite == 1, "the write's completion is held, not resumed before its segment")
        #expect(segmentsBeforeResume >= 1, "its segment left in the same turn")
        #expect(pair.server.deferredResumptionCount == 0)
        #expect(pair.client.status(of: client)?.readableBytes == 64)
    }

    @Test func aForwardedReadIsHeldButAPartlyTakenOneIsNot() async throws {
        let pair = Pair()
        let (socket, client) = try await connect(pair)
        _ = try [UInt8](repeating: 1, count: 100).withUnsafeBytes { try pair.client.send(client, $0) }
        pair.exchange()
        var held = -1
        let everything = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[UInt8]?, any Error>) in
            pair.server.read(socket, id: pair.server.makeCallID(), maximumLength: 1000, consume: { $0.count },
                             continuation: .task(continuation))
            held = pair.server.deferredResumptionCount
            pair.server.finishTurn()
        }
        #expect(held == 1)
        #expect(everything == [], "a consumer that took every byte leaves an empty chunk, not the end")

        _ = try [UInt8](repeating: 2, count: 100).withUnsafeBytes { try pair.client.send(client, $0) }
        pair.exchange()
        held = -1
        let rest = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[UInt8]?, any Error>) in
            pair.server.read(socket, id: pair.server.makeCallID(), maximumLength: 1000, consume: { _ in 40 },
                             continuation: .task(continuation))
            held = pair.server.deferredResumptionCount
        }
        #expect(held == 0, "the caller still has bytes to carry: resumed at once")
        #expect(rest == [UInt8](repeating: 2, count: 60))
    }

    @Test func closingTheBackendResumesWhatItHeld() async throws {
        let pair = Pair()
        let (socket, _) = try await connect(pair)
        var held = -1
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            pair.server.write(socket, id: pair.server.makeCallID(), [1, 2, 3], continuation: .task(continuation))
            held = pair.server.deferredResumptionCount
            pair.server.close()
        }
        #expect(held == 1)
        #expect(pair.server.deferredResumptionCount == 0)
    }
}
