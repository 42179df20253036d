#if canImport(Glibc)
import Glibc
#endif
import WireGuard

/// The node's own keys in its state directory (`Docs/control-plane.md`, "Configuration"): the
/// WireGuard private key in `node.key` and the disco private key in `disco.key`, each as
/// `privkey:<64 hex>`, mode 0600, created on first use so a restart keeps the node's identity.
struct StateDirectoryKeys: Sendable {
    let node: PrivateKey
    let disco: PrivateKey

    static let nodeKeyFile = "node.key"
    static let discoKeyFile = "disco.key"

    /// Loads both keys, creating the directory (0700) and missing keys (0600).
    /// - Throws: ``NodeError/configuration(_:)`` for a key file that exists but does not parse,
    ///   ``NodeError/system(operation:errno:)`` when the directory or a file cannot be written.
    static func loadOrCreate(in directory: String) throws(NodeError) -> StateDirectoryKeys {
        try makeDirectory(directory)
        let node = try loadOrCreateKey(at: directory + "/" + nodeKeyFile)
        let disco = try loadOrCreateKey(at: directory + "/" + discoKeyFile)
        return StateDirectoryKeys(node: node, disco: disco)
    }

    private static func makeDirectory(_ path: String) throws(NodeError) {
        var partial = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            partial += "/" + component
            if mkdir(partial, 0o700) != 0, errno != EEXIST {
                throw .system(operation: "create the state directory \(partial)", errno: errno)
            }
        }
    }

    private static func loadOrCreateKey(at path: String) throws(NodeError) -> PrivateKey {
        if let text = try readFile(path) {
            let trimmed = String(text.filter { !$0.isWhitespace })
            guard let key = KeyText.parse(trimmed, prefix: KeyText.privateKey) else {
                throw .configuration(ConfigurationError(
                    file: path, line: 1, message: "not a private key (expected privkey:<64 hex digits>); remove the file to make a new identity"))
            }
            return PrivateKey(key)
        }
        let key = PrivateKey()
        guard let bytes = Key32(base64: key.base64) else { throw .control("cannot encode a fresh private key") }
        try writeNewFile(path, contents: KeyText.format(bytes, prefix: KeyText.privateKey) + "\n")
        return key
    }

    /// The file's text, or nil when it does not exist.
    private static func readFile(_ path: String) throws(NodeError) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw .system(operation: "open \(path)", errno: errno)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 256)
        while bytes.count < 4096 {
            let count = read(fd, &chunk, chunk.count)
            if count < 0 {
                if errno == EINTR { continue }
                throw .system(operation: "read \(path)", errno: errno)
            }
            if count == 0 { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Writes a new file with mode 0600 atomically (temporary file, fsync, rename).
    private static func writeNewFile(_ path: String, contents: String) throws(NodeError) {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .system(operation: "create \(temporary)", errno: errno) }
        let bytes = Array(contents.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == bytes.count, synced == 0 else {
            let error = errno
            unlink(temporary)
            throw .system(operation: "write \(temporary)", errno: error)
        }
        guard rename(temporary, path) == 0 else {
            let error = errno
            unlink(temporary)
            throw .system(operation: "rename \(temporary) to \(path)", errno: error)
        }
    }
}
