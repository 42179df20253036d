#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import WireNet

/// `start()` is `throws(NodeError)` and can wait long for a tailnet login: cancelled there it throws
/// ``NodeError/cancelled`` at once (nothing left running), and `run()` — a service — hands that on as
/// `CancellationError`. The control URL is a local port that refuses connections, so the login
/// never completes by itself (its timeout is 60 s here).
@Suite("Cancelling a tailnet node's start",
       .enabled(if: builtControlHelper() != nil, "needs .build/control-helper/libwirenetcontrol.so (scripts/build-control-helper.sh)"))
struct StartCancellationTests {
    /// A tailnet node whose state directory is removed when the test ends.
    func makeNode() throws -> (node: Node, directory: String) {
        var template = Array("/tmp/tn-start-XXXXXX".utf8CString)
        let directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        var options = Node.Options()
        options.controlHelperPath = builtControlHelper()
        let node = try Node(tailnet: TailnetConfiguration(
            controlURL: "http://127.0.0.1:9", authKey: "tskey-never-used", hostname: "cancelled",
            stateDirectory: directory, loginTimeout: .seconds(60)), options: options, logger: Node.silentLogger)
        return (node, directory)
    }

    @Test func startCancelledDuringTheLoginThrowsNodeErrorCancelled() async throws {
        let (node, directory) = try makeNode()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let starting = Task { try await node.start() }
        try await Task.sleep(for: .milliseconds(300))
        let cancelledAt = ContinuousClock.now
        starting.cancel()
        let result = await starting.result
        #expect(ContinuousClock.now - cancelledAt < .seconds(5))
        guard case .failure(let error) = result else { Issue.record("start completed"); return }
        #expect(error as? NodeError == .cancelled, "\(error)")
        // Nothing is left running: the node is closed.
        await #expect(throws: NodeError.closed) { try await node.status() }
    }

    @Test func runCancelledDuringTheLoginThrowsCancellationError() async throws {
        let (node, directory) = try makeNode()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = Task { try await node.run() }
        try await Task.sleep(for: .milliseconds(300))
        running.cancel()
        let result = await running.result
        guard case .failure(let error) = result else { Issue.record("run returned"); return }
        #expect(error is CancellationError, "\(error)")
    }
}

/// The helper `scripts/build-control-helper.sh` writes, found from this source file's path; nil
/// when it has not been built.
private func builtControlHelper() -> String? {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let path = root.appendingPathComponent(".build/control-helper/libwirenetcontrol.so").path
    return FileManager.default.fileExists(atPath: path) ? path : nil
}
