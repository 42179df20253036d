import Synchronization
import Testing
import WireNet

/// Two nodes over UDP loopback with tunnel addresses 10.231.0.1 (server) and 10.231.0.2 (client),
/// built with the public API only.
struct LoopbackPair {
    let server: Node
    let client: Node
    static let serverAddress = IPAddress("10.231.0.1")!
    /// Routed to the server by the client's AllowedIPs, but nobody owns it: a SYN to it goes unanswered.
    static let unansweredAddress = IPAddress("10.231.0.9")!

    static func start() async throws -> LoopbackPair {
        let serverKey = PrivateKey()
        let clientKey = PrivateKey()
        let server = Node(configuration: NodeConfiguration(
            privateKey: serverKey, addresses: [IPPrefix("10.231.0.1/32")!],
            peers: [.init(publicKey: clientKey.publicKey, allowedIPs: [IPPrefix("10.231.0.2/32")!])]))
        try await server.start()
        let port = try await server.status().listenPort
        let client = Node(configuration: NodeConfiguration(
            privateKey: clientKey, addresses: [IPPrefix("10.231.0.2/32")!],
            peers: [.init(publicKey: serverKey.publicKey, endpoint: PeerEndpoint(host: "127.0.0.1", port: port),
                          allowedIPs: [IPPrefix("10.231.0.0/24")!])]))
        try await client.start()
        return LoopbackPair(server: server, client: client)
    }

    /// A connected stream each way on `port`.
    func connect(port: UInt16) async throws -> (client: TCPStream, server: TCPStream, listener: TCPListener) {
        let listener = try await server.listen(tcp: port)
        let client = try await client.dial(tcp: IPEndpoint(Self.serverAddress, port))
        let server = try #require(try await listener.accept())
        return (client, server, listener)
    }

    func close() async {
        await client.close()
        await server.close()
    }
}

/// The outcome of `task`, or nil when it has not finished within `limit` (a lost cancellation shows
/// as nil instead of hanging the test run).
func outcome<T: Sendable>(of task: Task<T, any Error>, within limit: Duration = .seconds(5)) async -> Result<T, any Error>? {
    let race = FirstResult<Result<T, any Error>?>()
    return await withCheckedContinuation { continuation in
        race.arm(continuation)
        Task { race.finish(await task.result) }
        Task { try? await Task.sleep(for: limit); race.finish(nil) }
    }
}

/// Resumes a continuation with whichever result comes first.
private final class FirstResult<Value: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<Value, Never>?>(nil)
    func arm(_ continuation: CheckedContinuation<Value, Never>) { self.continuation.withLock { $0 = continuation } }
    func finish(_ value: Value) { continuation.withLock { $0.take() }?.resume(returning: value) }
}

/// Runs `body` in a task that is cancelled before `body` starts.
func inCancelledTask<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) -> Task<T, any Error> {
    Task {
        withUnsafeCurrentTask { $0?.cancel() }
        return try await body()
    }
}

/// Whether `result` is a `CancellationError`.
func isCancellation<T>(_ result: Result<T, any Error>?) -> Bool {
    guard case .failure(let error)? = result else { return false }
    return error is CancellationError
}

/// Struck when a call did not finish in time.
struct StillWaiting: Error {}

/// `body`'s value, or `StillWaiting` thrown when it has not finished within `limit` (so that a test
/// whose earlier step went wrong fails instead of waiting forever).
func bounded<T: Sendable>(_ limit: Duration = .seconds(5), _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    guard let result = await outcome(of: Task { try await body() }, within: limit) else { throw StillWaiting() }
    return try result.get()
}

/// SplitMix64: a seeded source of test choices, so a run replays.
struct SplitMix {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
