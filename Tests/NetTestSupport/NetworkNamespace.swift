import Foundation

/// A Linux network namespace owned by one test; deleted (with its interfaces) on `destroy()` or deinit.
///
/// Names are unique per process and call so that tests running in parallel never collide. The
/// namespace is recorded in a ``ResourceJournal``, whose reaper deletes it if this process is killed
/// before it could.
public final class NetworkNamespace: @unchecked Sendable {
    public let name: String
    private let journal: ResourceJournal?
    private var destroyed = false
    nonisolated(unsafe) private static var counter = 0
    private static let lock = NSLock()

    /// Creates `wn<pid>-<tag><n>` with its loopback up.
    ///
    /// - Parameter journal: where the namespace is recorded (this process's journal by default).
    public init(tag: String, journal: ResourceJournal? = ResourceJournal.process) throws {
        let n = Self.lock.withLock { () -> Int in Self.counter += 1; return Self.counter }
        name = "wn\(getpid())-\(tag)\(n)"
        self.journal = journal
        // Recorded first: a process killed right after `ip netns add` still has it reaped.
        journal?.recordNamespace(name)
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
        try Shell.spawn(["ip", "netns", "exec", name] + command, environment: environment, journal: journal)
    }

    public func destroy() {
        guard !destroyed else { return }
        destroyed = true
        if (try? Shell.run(["ip", "netns", "del", name])) != nil { journal?.releaseNamespace(name) }
    }

    deinit { destroy() }
}

/// A veth pair with one end in the root namespace and the other in `namespace`, both addressed and up.
///
/// Interface names are at most 15 bytes, so they are derived from a short unique id. The root
/// namespace's end is recorded in a ``ResourceJournal`` (see ``NetworkNamespace``).
public final class VethLink: @unchecked Sendable {
    public let hostName: String
    public let namespaceName: String
    private let journal: ResourceJournal?
    nonisolated(unsafe) private static var counter = 0
    private static let lock = NSLock()

    /// - Parameters:
    ///   - hostAddress: CIDR for the root-namespace end, e.g. `10.250.1.1/24`.
    ///   - namespaceAddress: CIDR for the namespaced end, e.g. `10.250.1.2/24`.
    ///   - journal: where the link is recorded (this process's journal by default).
    public init(to namespace: NetworkNamespace, hostAddress: String, namespaceAddress: String,
                journal: ResourceJournal? = ResourceJournal.process) throws {
        let n = Self.lock.withLock { () -> Int in Self.counter += 1; return Self.counter }
        // The "x" keeps ids of different processes apart (pid 1234 link 15 and pid 12341 link 5).
        let id = "\(getpid() % 100_000)x\(n)"
        hostName = "wnh\(id)"
        namespaceName = "wnn\(id)"
        self.journal = journal
        journal?.recordLink(hostName)
        try Shell.run(["ip", "link", "add", hostName, "type", "veth", "peer", "name", namespaceName])
        do {
            try Shell.run(["ip", "link", "set", namespaceName, "netns", namespace.name])
            try Shell.run(["ip", "addr", "add", hostAddress, "dev", hostName])
            try Shell.run(["ip", "link", "set", hostName, "up"])
            try namespace.exec(["ip", "addr", "add", namespaceAddress, "dev", namespaceName])
            try namespace.exec(["ip", "link", "set", namespaceName, "up"])
        } catch {
            _ = try? Shell.run(["ip", "link", "del", hostName])
            journal?.releaseLink(hostName)
            throw error
        }
    }

    public func destroy() {
        // Deleting one end removes both; it may already be gone with its namespace.
        _ = try? Shell.run(["ip", "link", "del", hostName])
        journal?.releaseLink(hostName)
    }

    deinit { destroy() }
}
