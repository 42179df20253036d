import CWireNetShims
import Locking
import NetTestSupport
import Testing
import Wire
import WireNet
@testable import WireNetCLI

/// `--forward` on callbacks (issue 13): host connections accepted on the reactor thread
/// (``HostListener/acceptEach(_:until:)``), their tunnel side dialled without a task
/// (``Node/dial(tcp:timeout:then:)``), the splice started from the dial's completion; and the
/// cancellation and failure paths of each piece.
@Suite("Forward on callbacks", .serialized)
struct ForwardCallbackTests {
    @Test(.timeLimit(.minutes(1))) func acceptEachHandsOverEveryWaitingConnectionAndEndsOnInterrupt() async throws {
        let reactor = try SocketReactor.shared()
        let listener = try HostListener(address: try loopback(0), reactor: reactor)
        // Five connections already wait in the backlog before anyone accepts.
        var clients: [HostStream] = []
        for _ in 0..<5 { clients.append(try await HostStream.connect(to: listener.localAddress, reactor: reactor)) }
        let accepted = Lock<[HostStream]>([])
        let ending = Task {
            await withCheckedContinuation { (continuation: CheckedContinuation<(any Error)?, Never>) in
                listener.acceptEach({ stream in accepted.withLock { $0.append(stream) } },
                                   until: { continuation.resume(returning: $0) })
            }
        }
        #expect(await eventually { accepted.withLock { $0.count } == 5 })
        // Three more arrive while it waits: the reactor hands them over as they come.
        for _ in 0..<3 { clients.append(try await HostStream.connect(to: listener.localAddress, reactor: reactor)) }
        #expect(await eventually { accepted.withLock { $0.count } == 8 })
        // Each accepted stream is non-blocking and connected to one of the clients.
        try await clients[7].write([42])
        let last = accepted.withLock { $0[7] }
        #expect(try await last.read() == [42])

        listener.interrupt()
        let failure = await ending.value
        #expect(failure == nil)
        for stream in accepted.withLock({ $0 }) { stream.close() }
        for client in clients { client.close() }
        listener.close()
    }

    @Test(.timeLimit(.minutes(1))) func aReactorDrivenByANodeRunsItsWaitersOnTheLoopThread() async throws {
        let reactor = try SocketReactor.shared()
        let pair = try await TunnelPair.start()
        defer { Task { await pair.close() } }
        let driven = try SocketReactor.driven(by: pair.server)
        let listener = try HostListener(address: try loopback(0), reactor: reactor)
        // Accepted through the driven reactor: the handler runs on the node's loop thread.
        let accepted = Lock<[(stream: HostStream, thread: String)]>([])
        let ending = Task {
            await withCheckedContinuation { (continuation: CheckedContinuation<(any Error)?, Never>) in
                listener.acceptEach(on: driven, { stream in accepted.withLock { $0.append((stream, currentThreadName())) } },
                                   until: { continuation.resume(returning: $0) })
            }
        }
        try await Task.sleep(for: .milliseconds(50))  // acceptEach found the backlog empty and waits
        let client = try await HostStream.connect(to: listener.localAddress, reactor: reactor)
        #expect(await eventually { accepted.withLock { $0.count } == 1 })
        let (stream, acceptThread) = try #require(accepted.withLock { $0.first })
        #expect(acceptThread == "wirenet-engine")

        // The stream waits in the driven reactor too: its callback runs on the loop thread.
        let woken = await withCheckedContinuation { (continuation: CheckedContinuation<String, Never>) in
            stream.whenReady(.readable) { result in
                continuation.resume(returning: (try? result.get()) != nil ? currentThreadName() : "failed")
            }
            Task { try await client.write([9]) }
        }
        #expect(woken == "wirenet-engine")
        guard case .data(let bytes) = stream.receiveNow(maximumLength: 16) else {
            Issue.record("expected the byte the client wrote")
            return
        }
        #expect(bytes == [9])

        // Once the node has closed nothing dispatches, but interrupting a stream still ends its wait.
        await pair.server.close()
        let ended = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            stream.whenReady(.readable) { result in
                if case .failure(let error) = result, error is SocketShutDown { continuation.resume(returning: true) }
                else { continuation.resume(returning: false) }
            }
            stream.interrupt()
        }
        #expect(ended)
        listener.interrupt()
        #expect(await ending.value == nil)
        stream.close()
        client.close()
        listener.close()
    }

    @Test(.timeLimit(.minutes(1))) func aCallbackDialIsRefusedOrCancelledLikeTheAsyncOne() async throws {
        let pair = try await TunnelPair.start()
        defer { Task { await pair.close() } }
        let server = try #require(IPAddress(TunnelPair.serverAddress))

        // Nobody listens on the port: the server's RST ends the dial with connectionRefused.
        let refused = await dialResult(pair.client, IPEndpoint(server, 7030))
        guard case .failure(NodeError.connectionRefused(let endpoint)) = refused else {
            Issue.record("expected connectionRefused, got \(refused)")
            return
        }
        #expect(endpoint == IPEndpoint(server, 7030))

        // A listener: the dial completes with a connected stream.
        let listener = try await pair.server.listen(tcp: 7031)
        let connected = await dialResult(pair.client, IPEndpoint(server, 7031))
        let stream = try connected.get()
        let peer = try #require(try await listener.accept())
        try await stream.write([1, 2, 3])
        #expect(try await peer.read() == [1, 2, 3])
        stream.close()
        peer.close()
        listener.close()

        // An address without a route fails at once.
        let unrouted = await dialResult(pair.client, IPEndpoint(IPAddress("100.64.21.9")!, 7031))
        guard case .failure(NodeError.noRouteToHost) = unrouted else {
            Issue.record("expected noRouteToHost, got \(unrouted)")
            return
        }

        // The server is gone: the handshake never completes; cancel() ends the dial long before its
        // 10 s timeout, with CancellationError.
        await pair.server.close()
        let started = ContinuousClock.now
        let cancelled = await withCheckedContinuation { (continuation: CheckedContinuation<Result<TCPStream, any Error>, Never>) in
            let attempt = pair.client.dial(tcp: IPEndpoint(server, 7031), timeout: .seconds(10)) { continuation.resume(returning: $0) }
            Task {
                try? await Task.sleep(for: .milliseconds(200))
                attempt.cancel()
                attempt.cancel()  // twice: nothing more happens
            }
        }
        guard case .failure(let error) = cancelled, error is CancellationError else {
            Issue.record("expected CancellationError, got \(cancelled)")
            return
        }
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test(.timeLimit(.minutes(2))) func aBurstOfConnectionsIsCarriedAndCountedWithoutTasks() async throws {
        let reactor = try SocketReactor.shared()
        let pair = try await TunnelPair.start()
        defer { Task { await pair.close() } }
        // The host service of perf's connect test: reads the 16-byte header, writes one byte, closes.
        let service = try HostListener(address: try loopback(0), reactor: reactor)
        let serviceTask = Task {
            await withTaskGroup(of: Void.self) { group in
                while let connection = try? await service.accept() {
                    group.addTask {
                        var header: [UInt8] = []
                        while header.count < 16, let chunk = try? await connection.read() { header += chunk }
                        if header.count == 16 { try? await connection.write([0x43]) }
                        connection.close()
                    }
                }
            }
        }
        let serve = try await TCPServeForwarder(
            rule: try ServeRule(parsing: "tcp:7032=127.0.0.1:\(service.localAddress.port)"), target: service.localAddress,
            node: pair.server, reactor: reactor, logger: quietLogger)
        let forward = try await TCPForwardForwarder(
            rule: ForwardRule(proto: .tcp, bind: HostPort(host: "127.0.0.1", port: 0), target: IPEndpoint(IPAddress(TunnelPair.serverAddress)!, 7032)),
            node: pair.client, reactor: reactor, logger: quietLogger)
        let serving = Task { await serve.run() }
        let forwarding = Task { await forward.run() }

        let workers = 8
        let perWorker = 16
        let replies = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<workers {
                group.addTask {
                    var good = 0
                    for _ in 0..<perWorker {
                        let client = try await HostStream.connect(to: forward.localAddress, reactor: reactor)
                        try await client.write([UInt8](repeating: 0x57, count: 16))
                        var reply: [UInt8] = []
                        while let chunk = try await client.read() { reply += chunk }
                        if reply == [0x43] { good += 1 }
                        client.close()
                    }
                    return good
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(replies == workers * perWorker)
        #expect(await eventually { forward.connections.active == 0 && serve.connections.active == 0 })
        #expect(forward.connections.total == UInt64(workers * perWorker) && forward.connections.failed == 0)
        #expect(forward.limiter.held == 0)

        forward.close()
        serve.close()
        await forwarding.value
        await serving.value
        service.close()
        serviceTask.cancel()
        await serviceTask.value
    }

    @Test(.timeLimit(.minutes(1))) func aDialThatCannotCompleteIsWithdrawnByCancelAllAndTheHostSideReset() async throws {
        let reactor = try SocketReactor.shared()
        let pair = try await TunnelPair.start()
        defer { Task { await pair.close() } }
        let forward = try await TCPForwardForwarder(
            rule: ForwardRule(proto: .tcp, bind: HostPort(host: "127.0.0.1", port: 0), target: IPEndpoint(IPAddress(TunnelPair.serverAddress)!, 7033)),
            node: pair.client, reactor: reactor, logger: quietLogger)
        let forwarding = Task { await forward.run() }
        // The server node is gone: the client's dial waits for a handshake that never comes.
        await pair.server.close()

        let client = try await HostStream.connect(to: forward.localAddress, reactor: reactor)
        #expect(await eventually { forward.connections.active == 1 })
        #expect(forward.limiter.held == 1)
        let started = ContinuousClock.now
        forward.connections.cancelAll()
        await #expect(throws: SystemError.self) {
            while try await client.read() != nil {}
            throw SystemError("expected a reset, got end of stream", errno: 0)
        }
        #expect(ContinuousClock.now - started < .seconds(5))  // not the 10 s dial timeout
        client.close()
        #expect(await eventually { forward.connections.active == 0 })
        #expect(forward.connections.failed == 1 && forward.limiter.held == 0)

        // Cancelling run() stops accepting and closes the listener.
        forwarding.cancel()
        await forwarding.value
        await #expect(throws: SystemError.self) {
            _ = try await HostStream.connect(to: forward.localAddress, reactor: reactor)
        }
    }

    @Test(.timeLimit(.minutes(1))) func aTunnelTargetWithoutARouteResetsTheHostConnection() async throws {
        let reactor = try SocketReactor.shared()
        let pair = try await TunnelPair.start()
        defer { Task { await pair.close() } }
        let forward = try await TCPForwardForwarder(
            rule: ForwardRule(proto: .tcp, bind: HostPort(host: "127.0.0.1", port: 0), target: IPEndpoint(IPAddress("100.64.21.9")!, 7033)),
            node: pair.client, reactor: reactor, logger: quietLogger)
        let forwarding = Task { await forward.run() }
        // The reset may come before connect() has returned: either call reports it.
        await #expect(throws: SystemError.self) {
            let client = try await HostStream.connect(to: forward.localAddress, reactor: reactor)
            defer { client.close() }
            while try await client.read() != nil {}
            throw SystemError("expected a reset, got end of stream", errno: 0)
        }
        #expect(await eventually { forward.connections.failed == 1 && forward.connections.active == 0 })
        #expect(forward.limiter.held == 0)
        forward.close()
        await forwarding.value
    }
}

/// The calling thread's name.
private func currentThreadName() -> String {
    var name = [CChar](repeating: 0, count: 16)
    wirenet_get_thread_name(&name)
    return String(cString: name)
}

/// The result of a callback dial, awaited.
private func dialResult(_ node: Node, _ endpoint: IPEndpoint) async -> Result<TCPStream, any Error> {
    await withCheckedContinuation { continuation in
        node.dial(tcp: endpoint, timeout: .seconds(5)) { continuation.resume(returning: $0) }
    }
}
