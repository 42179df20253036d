import Dispatch
import Locking
import Synchronization
import Testing
import Wire
import WireGuard
@testable import WireNet

/// Marks the resolver's queue, so a lookup can tell where it runs.
nonisolated(unsafe) private let onResolverQueue = DispatchSpecificKey<String>()

/// Host-name lookups block in `getaddrinfo`; they run on the resolver's own queue so that the
/// cooperative pool (one thread per core) keeps running other tasks meanwhile.
@Suite("Peer endpoint resolution")
struct PeerEndpointResolverTests {
    @Test func lookupsRunOnTheResolverQueueAndLeaveTheCooperativePoolFree() async throws {
        let gate = DispatchSemaphore(value: 0)
        PeerEndpointResolver.queue.setSpecific(key: onResolverQueue, value: "wirenet.resolver")
        let labels = Lock<[String]>([])
        let gaveUp = Atomic<Int>(0)
        let lookup: PeerEndpointResolver.Lookup = { endpoint in
            labels.withLock { $0.append(DispatchQueue.getSpecific(key: onResolverQueue) ?? "elsewhere") }
            // Stands in for a slow DNS answer that only the probe below releases. It gives up after
            // 20 s, so that a starved pool (the probe cannot run until lookups give up) fails the
            // test instead of hanging it — without a wall-clock bound on how fast the probe runs.
            if gate.wait(timeout: .now() + .seconds(20)) == .timedOut { gaveUp.add(1, ordering: .relaxed) }
            return .success(IPEndpoint(IPAddress("192.0.2.7")!, endpoint.port))
        }
        // More blocked lookups than the pool has threads on this machine.
        let lookups = (0..<8).map { index in
            Task { try await PeerEndpointResolver.resolve(PeerEndpoint(host: "peer\(index).example", port: UInt16(1000 + index)), lookup: lookup) }
        }
        // Other tasks still run while the lookups block: the probe releases every lookup.
        await Task.detached { for _ in 0..<8 { gate.signal() } }.value
        for (index, task) in lookups.enumerated() {
            #expect(try await task.value == IPEndpoint(IPAddress("192.0.2.7")!, UInt16(1000 + index)))
        }
        #expect(labels.withLock { $0 } == Array(repeating: "wirenet.resolver", count: 8))
        #expect(gaveUp.load(ordering: .relaxed) == 0, "lookups blocked the pool until they gave up")
    }

    @Test func anAddressLiteralIsNotLookedUp() async throws {
        let lookup: PeerEndpointResolver.Lookup = { _ in .failure(.unresolvableHost("should not be called")) }
        #expect(try await PeerEndpointResolver.resolve(PeerEndpoint(host: "10.231.1.1", port: 51820), lookup: lookup)
                == IPEndpoint(IPAddress("10.231.1.1")!, 51820))
    }

    @Test func theSystemResolverAnswersLocalhostAndNamesAHostItCannotResolve() async throws {
        #expect(try await PeerEndpointResolver.resolve(PeerEndpoint(host: "localhost", port: 51820))
                == IPEndpoint(IPAddress("127.0.0.1")!, 51820))
        await #expect(throws: NodeError.unresolvableHost("no-such-host.invalid")) {
            try await PeerEndpointResolver.resolve(PeerEndpoint(host: "no-such-host.invalid", port: 51820))
        }
    }
}
