#if canImport(Glibc)
import Glibc
#endif
import Testing
import WireGuard
@testable import WireNet

/// The node's identity in its state directory: `node.key` and `disco.key`, 0600, kept across restarts.
@Suite struct StateDirectoryKeysTests {
    func temporaryDirectory() -> String {
        var template = Array("/tmp/tn-keys-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    @Test func keysAreCreatedWithMode0600AndKeptAcrossLoads() throws {
        let directory = temporaryDirectory() + "/nested/state"
        let first = try StateDirectoryKeys.loadOrCreate(in: directory)
        let second = try StateDirectoryKeys.loadOrCreate(in: directory)
        #expect(first.node.publicKey == second.node.publicKey)
        #expect(first.disco.publicKey == second.disco.publicKey)
        #expect(first.node.publicKey != first.disco.publicKey)
        for file in ["node.key", "disco.key"] {
            var info = stat()
            #expect(stat(directory + "/" + file, &info) == 0)
            #expect(info.st_mode & 0o777 == 0o600)
        }
    }

    @Test func aCorruptKeyFileIsAConfigurationErrorNotANewIdentity() throws {
        let directory = temporaryDirectory()
        let fd = open(directory + "/node.key", O_WRONLY | O_CREAT, 0o600)
        _ = "privkey:nothex\n".withCString { write(fd, $0, strlen($0)) }
        close(fd)
        #expect(throws: NodeError.self) { try StateDirectoryKeys.loadOrCreate(in: directory) }
    }

    @Test func aTailnetNodeWithoutTheHelperSaysHowToBuildIt() async throws {
        let directory = temporaryDirectory()
        var options = Node.Options()
        options.controlHelperPath = directory + "/missing/libwirenetcontrol.so"
        let node = try Node(tailnet: TailnetConfiguration(controlURL: "http://127.0.0.1:9", authKey: "k", hostname: "web",
                                                          stateDirectory: directory), options: options)
        do {
            try await node.start()
            Issue.record("start succeeded without a helper")
        } catch {  // start() throws NodeError: no cast
            guard case .controlHelperUnavailable(let message) = error else { Issue.record("\(error)"); return }
            #expect(message.contains("scripts/build-control-helper.sh"))
        }
    }

    @Test func badTailnetSettingsAreRefusedBeforeAnythingStarts() {
        #expect(throws: NodeError.self) {
            try Node(tailnet: TailnetConfiguration(controlURL: "ftp://x", authKey: "", hostname: "web", stateDirectory: "/tmp/x"))
        }
        #expect(throws: NodeError.self) {
            try Node(tailnet: TailnetConfiguration(controlURL: "http://x", authKey: "", hostname: "we b", stateDirectory: "/tmp/x"))
        }
    }
}
