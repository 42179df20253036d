import Foundation

/// Runs external programs for tests that talk to real peers (ip, wireguard-go, curl, iperf3, ...).
public enum Shell {
    public struct Failure: Error, CustomStringConvertible {
        public let command: [String]
        public let status: Int32
        public let output: String
        public init(command: [String], status: Int32, output: String) {
            self.command = command
            self.status = status
            self.output = output
        }
        public var description: String {
            "`\(command.joined(separator: " "))` exited with \(status): \(output)"
        }
    }

    /// True when the tests run as root, which network-namespace tests need.
    public static var isRoot: Bool { getuid() == 0 }

    /// True when `name` is an executable on PATH.
    public static func has(_ name: String) -> Bool {
        (try? run(["sh", "-c", "command -v \(name)"])) != nil
    }

    /// Runs a command to completion and returns its combined stdout+stderr; throws on a non-zero exit.
    @discardableResult
    public static func run(_ command: [String], input: Data? = nil) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let stdin = Pipe()
        process.standardInput = stdin
        try withEmptySignalMask { try process.run() }
        if let input { stdin.fileHandleForWriting.write(input) }
        try? stdin.fileHandleForWriting.close()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let output = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw Failure(command: command, status: process.terminationStatus, output: output)
        }
        return output
    }

    /// Starts a long-running command (a server, wireguard-go); stop it with `BackgroundProcess.stop()`.
    ///
    /// - Parameter journal: where the child is recorded, to be killed if this process is killed
    ///   first (this process's journal by default).
    public static func spawn(_ command: [String], environment: [String: String] = [:],
                             journal: ResourceJournal? = ResourceJournal.process) throws -> BackgroundProcess {
        try BackgroundProcess(command, environment: environment, journal: journal)
    }
}

/// A child process that is terminated when stopped or deinitialised, so a failing test leaves nothing
/// behind; recorded in a ``ResourceJournal`` for when this process is killed before it could stop it.
public final class BackgroundProcess: @unchecked Sendable {
    public let command: [String]
    private let process = Process()
    private let logURL: URL
    private let journal: ResourceJournal?

    init(_ command: [String], environment: [String: String], journal: ResourceJournal?) throws {
        self.journal = journal
        self.command = command
        logURL = FileManager.default.temporaryDirectory
            .appendingPathComponent("wirenet-bg-\(getpid())-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try withEmptySignalMask { try process.run() }
        journal?.recordProcess(process.processIdentifier)
    }

    public var isRunning: Bool { process.isRunning }

    /// The child's process ID (to signal it, e.g. SIGSTOP to simulate a stalled server).
    public var processIdentifier: Int32 { process.processIdentifier }

    /// What the process printed so far (stdout and stderr).
    public var output: String {
        (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
    }

    public func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        journal?.releaseProcess(process.processIdentifier)
        try? FileManager.default.removeItem(at: logURL)
    }

    deinit { stop() }
}

/// Runs `body` (which spawns a child) with this thread's signal mask cleared.
///
/// A child starts with the signal mask of the thread that spawned it, and the threads Swift
/// concurrency and Dispatch run tests on block most signals, SIGTERM included: without this, a child
/// that keeps the inherited mask (python3, socat) never dies of `terminate()`, and `stop()` waits forever.
private func withEmptySignalMask<T>(_ body: () throws -> T) rethrows -> T {
    var empty = sigset_t()
    var saved = sigset_t()
    sigemptyset(&empty)
    pthread_sigmask(SIG_SETMASK, &empty, &saved)
    defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
    return try body()
}
