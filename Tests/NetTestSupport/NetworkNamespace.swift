import Foundation

/// A Linux network namespace owned by one test; deleted (with its interfaces) on `destroy()` or deinit.
///
/// Names are unique per process and call so that tests running in parallel never collide.
public final class NetworkNamespace: @unchecked Sendable {
    public let name: String
    private var destroyed = false
    nonisolated(unsafe) private static var counter = 0
    private static let lock = NSLock()

    /// Creates `wn<pid>-<tag><n>` with its loopback up.
    public init(tag: String) throws {
        let n = Self.lock.withLock { () -> Int in Self.counter += 1; return Self.counter }
        name = "wn\(getpid())-\(tag)\(n)"
        try Shell.run(["ip", "netns", "add", name])
        try exec(["ip", "link", "set", "lo", "up"])
    }

    /// Runs a command inside the namespace to completion.
    @discardableResult
    public func exec(_ command: [String]) throws -> String {
        try Shell.run(["ip", "netns", "exec", name] + command)
    }

    /// Starts a long-running command inside the namespace.
    public func spawn(_ command: [String], environment: [String: String] = [:]) throws -> BackgroundProcess {
        try Shell.spawn(["ip", "netns", "exec", name] + command, environment: environment)
    }

    public func destroy() {
        guard !destroyed else { return }
        destroyed = true
        _ = try? Shell.run(["ip", "netns", "del", name])
    }

    deinit { destroy() }
}

/// A veth pair with one end in the root namespace and the other in `namespace`, both addressed and up.
///
/// Interface names are at most 15 bytes, so they are derived from a short unique id.
public final class VethLink: @unchecked Sendable {
    public let hostName: String
    public let namespaceName: String
    nonisolated(unsafe) private static var counter = 0
    private static let lock = NSLock()

    /// - Parameters:
    ///   - hostAddress: CIDR for the root-namespace end, e.g. `10.250.1.1/24`.
    ///   - namespaceAddress: CIDR for the namespaced end, e.g. `10.250.1.2/24`.
    public init(to namespace: NetworkNamespace, hostAddress: String, namespaceAddress: String) throws {
        let n = Self.lock.withLock { () -> Int in Self.counter += 1; return Self.counter }
        let id = "\(getpid() % 100_000)\(n)"
        hostName = "wnh\(id)"
        namespaceName = "wnn\(id)"
        try Shell.run(["ip", "link", "add", hostName, "type", "veth", "peer", "name", namespaceName])
        do {
            try Shell.run(["ip", "link", "set", namespaceName, "netns", namespace.name])
            try Shell.run(["ip", "addr", "add", hostAddress, "dev", hostName])
            try Shell.run(["ip", "link", "set", hostName, "up"])
            try namespace.exec(["ip", "addr", "add", namespaceAddress, "dev", namespaceName])
            try namespace.exec(["ip", "link", "set", namespaceName, "up"])
        } catch {
            _ = try? Shell.run(["ip", "link", "del", hostName])
            throw error
        }
    }

    public func destroy() {
        // Deleting one end removes both; it may already be gone with its namespace.
        _ = try? Shell.run(["ip", "link", "del", hostName])
    }

    deinit { destroy() }
}
