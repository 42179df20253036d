import Foundation

/// Runs `body` — a call that blocks its thread, such as ``Shell/run(_:input:)`` or
/// ``NetworkNamespace/exec(_:)`` waiting for `curl` — on a thread of its own while the calling task
/// suspends. Blocking a cooperative-pool thread instead (two on this 2-core machine, shared by every
/// test running in parallel) can starve the very task that must answer the command: a test's server
/// task then waits for a thread until the client gives up.
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async -> Result<T, any Error> {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: Result { try body() }) }.start()
    }
}
