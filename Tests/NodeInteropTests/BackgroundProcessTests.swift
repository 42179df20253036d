import Foundation
import NetTestSupport
import Testing

/// The helpers the interop tests lean on: a child started from a test task must stop when told.
struct BackgroundProcessTests {
    @Test func aChildSpawnedFromATestTaskDiesOfStop() async throws {
        // `sleep` keeps the signal mask it inherits; if SIGTERM were blocked, stop() would never return.
        let child = try Shell.spawn(["sleep", "30"])
        let stopped = StopFlag()
        Thread { child.stop(); stopped.set() }.start()
        try await waitFor("stop() to return", timeout: 5) { stopped.isSet }
        #expect(!child.isRunning)
    }
}

private final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}
