import Foundation

/// Removes what a test process created outside itself — network namespaces, veth links, child
/// processes — when that process ends without removing them: killed (SIGKILL, a sanitizer's halt,
/// `abort()`, a crash), not only when a test fails.
///
/// A failing test cleans up in its `defer`s and deinits; a process that is killed runs neither, and its
/// namespaces, the veth that holds an interop suite's underlay address in the root namespace and
/// wireguard-go stayed behind (every later interop test then failed against them). Each
/// ``NetworkNamespace``, ``VethLink`` and ``BackgroundProcess`` therefore writes a line to this
/// journal when it is created and another when it is removed. A reaper (`sh`, in a session of its
/// own so that a terminal's Ctrl-C does not reach it) reads a socket whose other end only this process
/// holds: the kernel closes it when the process ends, however it ends, and the reaper then removes
/// every resource the journal lists as not released — processes first (matched by PID and start
/// time, so a reused PID is left alone), then links (first: deleting a namespace removes its veth's
/// root end too, a moment later, and the link would go unrecorded), then namespaces (with whatever
/// still runs inside). It appends a `reaped` line for each and keeps the journal then (evidence for
/// `scripts/sanitizers.sh`); a journal with nothing left to reap is deleted.
///
/// Journals live in `$WIRENET_TEST_RESOURCES` (default: the temporary directory), named
/// `wirenet-resources-<pid>-<id>`.
public final class ResourceJournal: @unchecked Sendable {
    /// The journal of this test process, started on first use.
    public static let process: ResourceJournal? = try? ResourceJournal()

    /// The journal file.
    public let path: String
    private let lock = NSLock()
    private var ownerEnd: Int32
    private let reaper: Process

    /// Creates a journal and starts its reaper.
    public init() throws {
        let directory = ProcessInfo.processInfo.environment["WIRENET_TEST_RESOURCES"]
            ?? FileManager.default.temporaryDirectory.path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = "\(directory)/wirenet-resources-\(getpid())-\(UUID().uuidString.prefix(8))"
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw ResourceJournalError("cannot create \(path)")
        }
        // Close-on-exec from the start (a socket pair: Glibc's module has no pipe2): no child
        // (wireguard-go, a server) may hold this process's end, or the reaper would wait for that
        // child instead of for this process.
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw ResourceJournalError("socketpair: errno \(errno)")
        }
        ownerEnd = fds[1]
        reaper = Process()
        reaper.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
        reaper.arguments = ["--wait", "sh", "-c", Self.reaperScript, "wirenet-reaper", path]
        reaper.standardInput = FileHandle(fileDescriptor: fds[0], closeOnDealloc: true)
        reaper.standardOutput = FileHandle.nullDevice
        reaper.standardError = FileHandle.nullDevice
        do {
            try reaper.run()
        } catch {
            close(fds[1])
            throw error
        }
    }

    /// Records a network namespace this process created.
    public func recordNamespace(_ name: String) { append("netns \(name)") }
    /// Records that the namespace is deleted.
    public func releaseNamespace(_ name: String) { append("released netns \(name)") }
    /// Records a link (a veth end in the root namespace) this process created.
    public func recordLink(_ name: String) { append("link \(name)") }
    /// Records that the link is deleted.
    public func releaseLink(_ name: String) { append("released link \(name)") }

    /// Records a child process; its start time (from `/proc`) tells it from a later process with the
    /// same PID.
    public func recordProcess(_ pid: Int32) {
        guard let start = Self.startTime(of: pid) else { return }
        append("pid \(pid) \(start)")
    }
    /// Records that the child has exited (call after waiting for it).
    public func releaseProcess(_ pid: Int32) {
        lock.withLock {
            guard let line = processLines[pid] else { return }
            write("released \(line)")
        }
    }
    private var processLines: [Int32: String] = [:]

    /// Closes this process's end of the reaper's socket, as the kernel does when the process ends, and
    /// waits (up to `timeout`) for the reaper to finish. For tests of the journal itself: the reaper
    /// then removes whatever was recorded and not released.
    ///
    /// - Returns: the journal's `reaped` lines (empty when nothing was left).
    public func endOwnership(timeout: Duration = .seconds(30)) -> [String] {
        lock.withLock {
            if ownerEnd >= 0 { close(ownerEnd) }
            ownerEnd = -1
        }
        let deadline = ContinuousClock.now + timeout
        while reaper.isRunning && ContinuousClock.now < deadline { usleep(20_000) }
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").filter { $0.hasPrefix("reaped ") }.map(String.init)
    }

    private func append(_ line: String) {
        lock.withLock {
            if line.hasPrefix("pid "), let pid = Int32(line.split(separator: " ")[1]) { processLines[pid] = line }
            write(line)
        }
    }

    /// Appends one line with a single write(2) on an O_APPEND descriptor (the reaper reads the file).
    private func write(_ line: String) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    }

    /// Field 22 of `/proc/<pid>/stat` (start time in clock ticks since boot); the fields are counted
    /// after the command name's closing parenthesis, which may itself contain spaces.
    static func startTime(of pid: Int32) -> String? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? String(fields[19]) : nil
    }

    /// The reaper: waits for end of file on standard input, then removes what was not released.
    static let reaperScript = #"""
        cat >/dev/null
        journal="$1"
        [ -f "$journal" ] || exit 0
        left=$(awk '/^released /{ sub(/^released /, ""); done[$0] = 1; next }
                    /^reaped /{ next }
                    { lines[++n] = $0 }
                    END { for (i = 1; i <= n; i++) if (!(lines[i] in done)) print lines[i] }' "$journal")
        if [ -z "$left" ]; then rm -f "$journal"; exit 0; fi
        printf '%s\n' "$left" | while read -r kind name start; do
            [ "$kind" = pid ] || continue
            now=$(sed 's/.*) //' "/proc/$name/stat" 2>/dev/null | cut -d' ' -f20)
            if [ -n "$now" ] && [ "$now" = "$start" ]; then kill -KILL "$name" && echo "reaped pid $name" >>"$journal"; fi
        done
        printf '%s\n' "$left" | while read -r kind name start; do
            [ "$kind" = link ] || continue
            ip link show "$name" >/dev/null 2>&1 || continue
            ip link del "$name" && echo "reaped link $name" >>"$journal"
        done
        printf '%s\n' "$left" | while read -r kind name start; do
            [ "$kind" = netns ] || continue
            ip netns list | cut -d' ' -f1 | grep -qx "$name" || continue
            for pid in $(ip netns pids "$name"); do kill -KILL "$pid"; done
            ip netns del "$name" && echo "reaped netns $name" >>"$journal"
        done
        grep -q '^reaped ' "$journal" || rm -f "$journal"
        """#
}

/// A journal could not be set up.
public struct ResourceJournalError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
