import Foundation
import NetTestSupport
import Testing

/// Nothing of an interop test outlives its process, however the process ends (``ResourceJournal``):
/// killed by SIGKILL or a sanitizer's halt, or after a failed test.
extension NodeInteropTests {
    /// Runs this test binary again with only ``aKilledTestProcessHelper()`` enabled, lets it create a
    /// namespace, a veth (10.252.18.0/24) and a child, kills it with SIGKILL (as a sanitizer's halt or a
    /// CI timeout does) and waits for its journal's reaper to remove all three.
    @Test func whatAKilledTestProcessCreatedIsRemovedByItsJournalsReaper() throws {
        let scratch = try ScratchDirectory()
        let ready = scratch.path("ready")
        let journals = scratch.path("journals")
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let child = try Shell.spawn([executable, "--testing-library", "swift-testing", "--filter", "aKilledTestProcessHelper"],
                                    environment: [Self.helperVariable: ready, "WIRENET_TEST_RESOURCES": journals])
        defer { child.stop() }
        try poll("the helper test process to create its resources", timeout: 180) {
            guard child.isRunning else { throw InteropFailure("the helper exited: \(child.output)") }
            return FileManager.default.fileExists(atPath: ready)
        }
        let fields = try String(contentsOfFile: ready, encoding: .utf8).split(separator: " ").map(String.init)
        try #require(fields.count == 3, "\(fields)")
        let (namespace, link, sleeper) = (fields[0], fields[1], try #require(Int32(fields[2])))
        #expect(try namespaceExists(namespace))
        #expect(isLive(sleeper))

        kill(child.processIdentifier, SIGKILL)

        try poll("the reaper to remove the namespace, the veth and the child", timeout: 30) {
            try !namespaceExists(namespace) && (try? Shell.run(["ip", "link", "show", link])) == nil
                && !isLive(sleeper)
        }
        let journal = try FileManager.default.contentsOfDirectory(atPath: journals)
            .map { try String(contentsOfFile: "\(journals)/\($0)", encoding: .utf8) }.joined()
        for line in ["reaped pid \(sleeper)", "reaped netns \(namespace)", "reaped link \(link)"] {
            #expect(journal.contains(line + "\n"), "\(journal)")
        }
    }

    static let helperVariable = "WIRENET_LEFTOVER_HELPER"

    /// The process ``whatAKilledTestProcessCreatedIsRemovedByItsJournalsReaper()`` kills: creates the
    /// resources, says so in the file `$WIRENET_LEFTOVER_HELPER` names, and waits to be killed.
    @Test(.enabled(if: ProcessInfo.processInfo.environment[helperVariable] != nil,
                   "run by whatAKilledTestProcessCreatedIsRemovedByItsJournalsReaper in a process of its own"))
    func aKilledTestProcessHelper() throws {
        let ready = try #require(ProcessInfo.processInfo.environment[Self.helperVariable])
        let namespace = try NetworkNamespace(tag: "rjk")
        let link = try VethLink(to: namespace, hostAddress: "10.252.18.1/24", namespaceAddress: "10.252.18.2/24")
        let sleeper = try namespace.spawn(["sleep", "600"])
        try "\(namespace.name) \(link.hostName) \(sleeper.processIdentifier)"
            .write(toFile: ready, atomically: true, encoding: .utf8)
        Thread.sleep(forTimeInterval: 600)
    }

    /// Underlay 10.252.17.0/24 (this test's own; ``KernelPeer``'s /24 is not touched).
    @Test func theJournalReapsANamespaceVethAndChildrenOfAnOwnerThatEndedWithoutCleaningUp() async throws {
        let journal = try ResourceJournal()
        // Created and removed normally: the reaper must leave it alone.
        let removed = try NetworkNamespace(tag: "rjok", journal: journal)
        removed.destroy()
        // Created and never removed, as by a process killed mid-test.
        let namespace = try NetworkNamespace(tag: "rj", journal: journal)
        let link = try VethLink(to: namespace, hostAddress: "10.252.17.1/24", namespaceAddress: "10.252.17.2/24",
                                journal: journal)
        let interface = "wgr\(getpid() % 100_000)"
        let wireguard = try namespace.spawn(["wireguard-go", interface], environment: ["WG_PROCESS_FOREGROUND": "1"])
        let sleeper = try Shell.spawn(["sleep", "600"], journal: journal)
        try poll("wireguard-go's control socket", timeout: 10) {
            FileManager.default.fileExists(atPath: "/var/run/wireguard/\(interface).sock")
        }

        let reaped = journal.endOwnership()

        #expect(Set(reaped) == ["reaped pid \(wireguard.processIdentifier)", "reaped pid \(sleeper.processIdentifier)",
                                "reaped netns \(namespace.name)", "reaped link \(link.hostName)"], "\(reaped)")
        try poll("the reaped children to exit", timeout: 10) { !wireguard.isRunning && !sleeper.isRunning }
        #expect(try !namespaceExists(namespace.name))
        #expect((try? Shell.run(["ip", "link", "show", link.hostName])) == nil)
        // The journal stays as evidence of what was reaped.
        #expect(FileManager.default.fileExists(atPath: journal.path))
        try? FileManager.default.removeItem(atPath: journal.path)
    }

    @Test func aJournalWithEverythingReleasedIsDeletedAndReapsNothing() async throws {
        let journal = try ResourceJournal()
        let namespace = try NetworkNamespace(tag: "rjclean", journal: journal)
        let child = try Shell.spawn(["sleep", "600"], journal: journal)
        child.stop()
        namespace.destroy()
        #expect(journal.endOwnership().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: journal.path))
    }
}

/// Whether `pid` runs (a zombie does not: the killed helper's orphans are reaped by PID 1, not by us).
private func isLive(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return false }
    return !stat[stat.index(after: close)...].hasPrefix(" Z")
}

private func namespaceExists(_ name: String) throws -> Bool {
    try Shell.run(["ip", "netns", "list"]).split(separator: "\n").contains { $0.split(separator: " ").first.map(String.init) == name }
}
