#if CLI  // UpSession is `wirenet up` (the CLI package trait).
import Testing
@testable import WireNet
@testable import WireNetCLI

/// `wirenet up` runs until a signal or until its node stops on its own; the latter is an error.
@Suite struct UpFailureTests {
    @Test func aNodeThatStopsOnItsOwnEndsTheWaitWithItsError() async throws {
        let pair = try await TunnelPair.start()
        defer { Task { await pair.close() } }
        let (engine, _) = try pair.server.runningEngine()
        // No signal ever comes (the wait ends only by cancellation); the node's socket breaks.
        let waiting = Task {
            try await UpSession.waitForSignalOrFailure(signal: { try await Task.sleep(for: .seconds(3600)) }, node: pair.server)
        }
        engine.perform { $0.transport.close() }
        let failure = try await waiting.value
        #expect(failure != nil)
        #expect(failure?.description.contains("receive from the UDP socket") == true)
    }

    @Test func aSignalEndsTheWaitWithoutAnError() async throws {
        let pair = try await TunnelPair.start()
        defer { Task { await pair.close() } }
        let failure = try await UpSession.waitForSignalOrFailure(signal: { try await Task.sleep(for: .milliseconds(50)) }, node: pair.server)
        #expect(failure == nil)
        #expect(pair.server.failure == nil)
    }
}
#endif
