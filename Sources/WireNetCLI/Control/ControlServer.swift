#if canImport(Glibc)
import Glibc
#endif
import Logging

/// The unix-domain socket on which `wirenet up` answers `wirenet status`.
///
/// The protocol is one line each way and then some text: the client sends a command (`status`) and
/// a newline, the server writes its answer and closes. The socket file is created with mode 0600 in a
/// directory of mode 0700 (status shows keys and peers) and removed by ``close()``.
final class ControlServer: Sendable {
    /// The socket file.
    let path: String
    private let listener: HostListener
    private let connections = ConnectionTracker()
    private let logger: Logger

    /// Commands have to arrive within this many bytes.
    static let maximumRequestLength = 256

    /// Creates the directory if needed and binds the socket. A socket file left behind by a process
    /// that is gone is replaced; one that still answers is not. With `checkingDirectory` (the
    /// default location, e.g. `/tmp/wirenet-UID`, which another user could have created first), the
    /// directory must be a real directory owned by this user with no access for anyone else.
    ///
    /// - Throws: ``ControlSocketError``.
    init(path: String, checkingDirectory: Bool = true, reactor: SocketReactor, logger: Logger) throws(ControlSocketError) {
        guard let address = SocketAddress(unixPath: path) else {
            throw ControlSocketError(path: path, reason: "path longer than a unix socket allows (107 bytes)")
        }
        try Self.prepareDirectory(of: path)
        if checkingDirectory, let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            try Self.checkPrivateDirectory(String(path[..<slash]), owner: geteuid(), socketPath: path)
        }
        try Self.removeStaleSocket(at: path, address: address)
        let previous = umask(0o077)
        defer { umask(previous) }
        do {
            listener = try HostListener(address: address, reactor: reactor)
        } catch {
            throw ControlSocketError(path: path, reason: "\(error)")
        }
        self.path = path
        self.logger = logger
    }

    private static func prepareDirectory(of path: String) throws(ControlSocketError) {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return }
        let directory = String(path[..<slash])
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw ControlSocketError(path: path, reason: "cannot create directory \(directory): \(String(cString: strerror(errno)))")
        }
    }

    /// Refuses a socket directory another user could tamper with: a symbolic link, not a directory,
    /// owned by someone other than `owner`, or with any group/other permission bits.
    static func checkPrivateDirectory(_ directory: String, owner: uid_t, socketPath: String) throws(ControlSocketError) {
        var info = stat()
        guard lstat(directory, &info) == 0 else {
            throw ControlSocketError(path: socketPath, reason: "cannot examine directory \(directory): \(String(cString: strerror(errno)))")
        }
        let advice = "remove it, or pass --control-socket with a path in a directory only you can write"
        if info.st_mode & S_IFMT == S_IFLNK {
            throw ControlSocketError(path: socketPath, reason: "directory \(directory) is a symbolic link; \(advice)")
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw ControlSocketError(path: socketPath, reason: "\(directory) is not a directory; \(advice)")
        }
        guard info.st_uid == owner else {
            throw ControlSocketError(
                path: socketPath, reason: "directory \(directory) belongs to uid \(info.st_uid), not to you (uid \(owner)); \(advice)")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw ControlSocketError(
                path: socketPath,
                reason: "directory \(directory) has mode \(KeyFileAccess.octal(info.st_mode & 0o777)); it must be 0700 (chmod 700 it), or \(advice)")
        }
    }

    private static func removeStaleSocket(at path: String, address: SocketAddress) throws(ControlSocketError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw ControlSocketError(path: path, reason: "exists and is not a socket")
        }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { return }
        defer { Glibc.close(probe) }
        if address.withSockaddr({ connect(probe, $0, $1) }) == 0 {
            throw ControlSocketError(path: path, reason: "another `wirenet up` is using it (pass --control-socket to run a second one)")
        }
        unlink(path)
    }

    /// Answers requests until ``close()``; `respond` maps a command to the reply text.
    func run(respond: @escaping @Sendable (String) async -> String) async {
        while true {
            let client: HostStream
            do {
                guard let next = try await listener.accept() else { break }
                client = next
            } catch {
                logger.warning("control socket accept failed", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(100))
                continue
            }
            connections.spawn {
                defer { client.close() }
                do {
                    let command = try await Self.readCommand(from: client)
                    let reply = await respond(command)
                    try await client.write(Array(reply.utf8))
                    client.shutdownWrite()
                    return true
                } catch {
                    return false
                }
            }
        }
        connections.cancelAll()
        await connections.waitUntilIdle()
        listener.close()
    }

    /// Reads one command line (without its newline).
    private static func readCommand(from client: HostStream) async throws -> String {
        var line: [UInt8] = []
        while line.count <= maximumRequestLength, let chunk = try await client.read(maximumLength: maximumRequestLength) {
            if let newline = chunk.firstIndex(of: UInt8(ascii: "\n")) {
                line += chunk[..<newline]
                break
            }
            line += chunk
        }
        return String(decoding: line.prefix(maximumRequestLength), as: UTF8.self)
    }

    /// Stops answering and removes the socket file. Calling it again does nothing.
    func close() {
        listener.interrupt()
        unlink(path)
    }
}

/// The control socket cannot be created.
public struct ControlSocketError: Error, Sendable, CustomStringConvertible {
    /// The socket file.
    public var path: String
    /// What went wrong with it.
    public var reason: String
    public var description: String { "control socket \(path): \(reason)" }
}
