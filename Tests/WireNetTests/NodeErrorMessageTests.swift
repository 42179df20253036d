import Foundation
import Testing
import WireGuard
import Wire
@testable import WireNet

/// What a person sees of a NodeError through Foundation is the message, not "NodeError error 12".
struct NodeErrorMessageTests {
    @Test func localizedDescriptionIsTheMessage() {
        let error: any Error = NodeError.portInUse(8080)
        #expect(error.localizedDescription == "port 8080 is already in use")
        #expect((NodeError.noRouteToHost("100.64.0.9") as any Error).localizedDescription.contains("100.64.0.9"))
    }
}

/// The messages of failed dials and binds name the address and port involved.
@Suite("Error messages name what failed", .serialized)
struct NodeErrorNamesTests {
    @Test func connectionRefusedNamesHostAndPort() async throws {
        let pair = try await NodePair.start()
        defer { Task { await pair.close() } }
        do {
            _ = try await pair.client.dial(tcp: NodePair.serverAddress, port: 9998)
            Issue.record("the dial to a closed port succeeded")
        } catch let error as NodeError {
            #expect(error.localizedDescription.contains("\(NodePair.serverAddress):9998"), "\(error)")
        }
    }

    @Test func aTunnelPortInUseNamesThePort() async throws {
        let pair = try await NodePair.start()
        defer { Task { await pair.close() } }
        let listener = try await pair.server.listen(tcp: 9997)
        defer { listener.close() }
        let conn = try await pair.server.listenPacket(udp: 9996)
        defer { conn.close() }
        await #expect(throws: NodeError.portInUse(9997)) { try await pair.server.listen(tcp: 9997) }
        await #expect(throws: NodeError.portInUse(9996)) { try await pair.server.listenPacket(udp: 9996) }
        #expect(NodeError.portInUse(9997).localizedDescription.contains("9997"))
    }

    @Test func aTakenListenPortNamesThePort() async throws {
        let first = Node(configuration: NodeConfiguration(privateKey: PrivateKey(), addresses: [IPPrefix("10.231.2.1/32")!]))
        try await first.start()
        defer { Task { await first.close() } }
        let port = try await first.status().listenPort
        let second = Node(configuration: NodeConfiguration(privateKey: PrivateKey(), addresses: [IPPrefix("10.231.2.2/32")!], listenPort: port))
        do {
            try await second.start()
            Issue.record("a second node started on UDP port \(port)")
            await second.close()
        } catch {  // start() throws NodeError: no cast
            #expect(error == .portInUse(port))
            #expect(error.localizedDescription.contains("\(port)"))
        }
    }
}
