import Foundation
import Testing
@testable import WireNetCLI

/// Files and directories that hold keys or the control socket: what `wirenet` accepts, warns about
/// and refuses.
@Suite struct FileSafetyTests {
    func temporaryDirectory() throws -> String {
        var template = Array("/tmp/rl-filesafety-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        try #require(made != nil)
        return String(cString: template)
    }

    @Test func theControlSocketDirectoryMustBePrivateToItsOwner() throws {
        let parent = try temporaryDirectory()
        defer { _ = try? FileManager.default.removeItem(atPath: parent) }
        let directory = parent + "/wirenet-test"
        let socket = directory + "/wg0.sock"
        #expect(mkdir(directory, 0o700) == 0)
        try ControlServer.checkPrivateDirectory(directory, owner: geteuid(), socketPath: socket)

        chmod(directory, 0o755)
        #expect(throws: ControlSocketError.self) {
            try ControlServer.checkPrivateDirectory(directory, owner: geteuid(), socketPath: socket)
        }
        do {
            try ControlServer.checkPrivateDirectory(directory, owner: geteuid(), socketPath: socket)
        } catch {
            #expect(error.description.contains("mode 0755"))
            #expect(error.description.contains("--control-socket"))
        }
        chmod(directory, 0o700)
        // Someone else's directory: as root, hand it to nobody; otherwise check it for another user.
        var expectedOwner = geteuid() + 1
        if geteuid() == 0 {
            #expect(chown(directory, 65534, 65534) == 0)
            expectedOwner = 0
        }
        do {
            try ControlServer.checkPrivateDirectory(directory, owner: expectedOwner, socketPath: socket)
            Issue.record("a directory owned by another user was accepted")
        } catch {
            #expect(error.description.contains("belongs to uid"))
        }
        // A symbolic link to a private directory is refused too: whoever made the link chose its target.
        let link = parent + "/wirenet-link"
        #expect(symlink(directory, link) == 0)
        do {
            try ControlServer.checkPrivateDirectory(link, owner: geteuid(), socketPath: link + "/wg0.sock")
            Issue.record("a symbolic link was accepted")
        } catch {
            #expect(error.description.contains("symbolic link"))
        }
    }

    @Test func aWorldReadableConfigurationIsWarnedAbout() throws {
        let directory = try temporaryDirectory()
        defer { _ = try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/wg0.conf"
        #expect(FileManager.default.createFile(atPath: path, contents: Data("[Interface]\n".utf8)))
        chmod(path, 0o600)
        #expect(KeyFileAccess.worldAccessibleWarning(forConfiguration: path) == nil)
        chmod(path, 0o644)
        let warning = try #require(KeyFileAccess.worldAccessibleWarning(forConfiguration: path))
        #expect(warning.contains("world accessible") && warning.contains("0644"))
    }

    @Test func generatedKeysWrittenToAWorldReadableFileAreWarnedAbout() throws {
        let directory = try temporaryDirectory()
        defer { _ = try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/key"
        let descriptor = open(path, O_CREAT | O_WRONLY, 0o600)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        #expect(KeyFileAccess.worldAccessibleWarning(forOutput: descriptor) == nil)
        fchmod(descriptor, 0o644)
        #expect(KeyFileAccess.worldAccessibleWarning(forOutput: descriptor)?.contains("world accessible") == true)
        var pipeEnds: [Int32] = [0, 0]
        #expect(pipe(&pipeEnds) == 0)
        #expect(KeyFileAccess.worldAccessibleWarning(forOutput: pipeEnds[1]) == nil)
        close(pipeEnds[0]); close(pipeEnds[1])
    }
}
