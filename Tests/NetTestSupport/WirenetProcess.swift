import Foundation
import NetTestSupport

/// A scratch directory removed on deinit.
public final class ScratchDirectory: @unchecked Sendable {
    public let url: URL
    public init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("wirenet-cli-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    public func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    public func write(_ name: String, _ text: String) throws -> String {
        let path = path(name)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)  // configurations hold private keys
        return path
    }
    deinit { try? FileManager.default.removeItem(at: url) }
}

/// A child process (`wirenet` unless told otherwise; shared by the CLI and tailnet tests) with its standard output and error captured in
/// files; killed on deinit (and by the process's ``ResourceJournal`` reaper if the test process is
/// killed first).
///
/// Not NetTestSupport's `BackgroundProcess`: Foundation starts children with the signal mask of the
/// dispatch thread that spawns them, which blocks SIGTERM, so its `stop()` waits forever for a child
/// such as python's http.server. This one ends leftovers with SIGKILL.
public final class WirenetProcess: @unchecked Sendable {
    public let arguments: [String]
    private let process = Process()
    private let stdoutPath: String
    private let stderrPath: String

    /// Starts `wirenet arguments...` (or `executable arguments...`); `input` goes to its standard input.
    public init(_ arguments: [String], input: String? = nil, executable: String? = nil, scratch: ScratchDirectory) throws {
        guard let binary = executable ?? WirenetBinary.path else { throw WirenetProcessError("wirenet is not built next to the tests") }
        self.arguments = arguments
        let tag = UUID().uuidString.prefix(8)
        stdoutPath = scratch.path("stdout-\(tag)")
        stderrPath = scratch.path("stderr-\(tag)")
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        let stdin = Pipe()
        process.standardInput = stdin
        try process.run()
        ResourceJournal.process?.recordProcess(process.processIdentifier)
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try? stdin.fileHandleForWriting.close()
    }

    public var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    public var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }
    public var isRunning: Bool { process.isRunning }
    public var pid: Int32 { process.processIdentifier }

    /// Waits for the process to exit (at most `limit`, then kills it) and returns its exit status;
    /// nil when it ended by a signal or had to be killed.
    public func waitForExit(within limit: Duration = .seconds(30)) async -> Int32? {
        let deadline = ContinuousClock.now + limit
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(10)) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        process.waitUntilExit()
        return process.terminationReason == .exit ? process.terminationStatus : nil
    }

    /// Waits until standard output has a complete first line, and returns it (nil if the process
    /// exited first or `limit` passed).
    public func firstLine(within limit: Duration = .seconds(20)) async -> String? {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            let text = stdout
            if let newline = text.firstIndex(of: "\n") { return String(text[..<newline]) }
            if !process.isRunning { return nil }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    /// Sends `signal` (SIGTERM by default).
    public func signal(_ signal: Int32 = SIGTERM) { kill(process.processIdentifier, signal) }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        ResourceJournal.process?.releaseProcess(process.processIdentifier)
    }
}

public struct WirenetProcessError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Runs `wirenet arguments...` to completion.
public func runWirenet(_ arguments: [String], input: String? = nil, scratch: ScratchDirectory,
                within limit: Duration = .seconds(30)) async throws -> (status: Int32?, stdout: String, stderr: String) {
    let process = try WirenetProcess(arguments, input: input, scratch: scratch)
    let status = await process.waitForExit(within: limit)
    return (status, process.stdout, process.stderr)
}
