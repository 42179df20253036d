import Foundation
import Testing
import WireNet

/// What a person sees of a NodeError through Foundation is the message, not "NodeError error 12".
struct NodeErrorMessageTests {
    @Test func localizedDescriptionIsTheMessage() {
        let error: any Error = NodeError.portInUse(8080)
        #expect(error.localizedDescription == "port 8080 is already in use")
        #expect((NodeError.noRouteToHost("100.64.0.9") as any Error).localizedDescription.contains("100.64.0.9"))
    }
}
