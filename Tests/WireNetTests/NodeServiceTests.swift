import Logging
import ServiceLifecycle
import Testing
import Wire
import WireGuard
@testable import WireNet

@Suite("Node as a swift-service-lifecycle Service")
struct NodeServiceTests {
    @Test func aServiceGroupStartsTheNodeAndClosesItOnGracefulShutdown() async throws {
        let node = Node(configuration: NodeConfiguration(
            privateKey: PrivateKey(), addresses: [IPPrefix("100.64.12.1/32")!]), logger: NodePair.quietLogger)
        let group = ServiceGroup(configuration: .init(services: [node], logger: NodePair.quietLogger))
        let running = Task { try await group.run() }

        // Wait (bounded) until the group has started the node.
        var status: NodeStatus?
        for _ in 0..<200 where status == nil {
            status = try? await node.status()
            if status == nil { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(status?.listenPort != nil)

        await group.triggerGracefulShutdown()
        try await running.value
        await #expect(throws: NodeError.closed) { try await node.listen(tcp: 80) }
    }

    @Test func cancellingTheRunningServiceClosesTheNode() async throws {
        let node = Node(configuration: NodeConfiguration(
            privateKey: PrivateKey(), addresses: [IPPrefix("100.64.12.2/32")!]), logger: NodePair.quietLogger)
        let running = Task { try await node.run() }
        var started = false
        for _ in 0..<200 where !started {
            started = (try? await node.status()) != nil
            if !started { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(started)
        running.cancel()
        try await running.value
        await #expect(throws: NodeError.closed) { try await node.status() }
    }
}
