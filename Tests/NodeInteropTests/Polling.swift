import Foundation

/// A test precondition that did not hold (a server that did not start, a wait that timed out).
struct InteropFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Polls `condition` every 20 ms until it holds; throws after `timeout` seconds.
func poll(_ what: String, timeout: Double, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while try !condition() {
        guard Date() < deadline else { throw InteropFailure("timed out after \(timeout) s waiting for \(what)") }
        usleep(20_000)
    }
}

/// Checks `condition` every 20 ms, sleeping the task in between, until it holds; throws after
/// `timeout` seconds.
func waitFor(_ what: String, timeout: Double, _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while try await !condition() {
        guard Date() < deadline else { throw InteropFailure("timed out after \(timeout) s waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(20))
    }
}
