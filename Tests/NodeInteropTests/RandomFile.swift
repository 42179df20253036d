import CSodium
import Foundation
import NetTestSupport

/// SHA-256 (libsodium) of everything fed to it, for byte-exact transfer checks.
struct SHA256Digest {
    private var state = crypto_hash_sha256_state()
    init() { crypto_hash_sha256_init(&state) }
    mutating func update(_ bytes: some ContiguousBytes) {
        bytes.withUnsafeBytes { raw in
            _ = crypto_hash_sha256_update(&state, raw.bindMemory(to: UInt8.self).baseAddress, UInt64(raw.count))
        }
    }
    mutating func finish() -> String {
        var out = [UInt8](repeating: 0, count: 32)
        crypto_hash_sha256_final(&state, &out)
        return out.map { String(format: "%02x", $0) }.joined()
    }

    /// The hex digest of a file's contents.
    static func ofFile(_ url: URL) throws -> String {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var digest = SHA256Digest()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { digest.update(chunk) }
        return digest.finish()
    }
}

/// A temporary directory holding one file of random bytes, served by the HTTP servers below.
final class RandomFile: @unchecked Sendable {
    let directory: URL
    let name = "blob"
    let size: Int
    let sha256: String
    var url: URL { directory.appendingPathComponent(name) }

    init(megabytes: Int) throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("wirenet-interop-files-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        size = megabytes << 20
        let path = directory.appendingPathComponent(name).path
        try Shell.run(["sh", "-c", "head -c \(size) /dev/urandom > '\(path)'"])
        sha256 = try SHA256Digest.ofFile(directory.appendingPathComponent(name))
    }

    deinit { try? FileManager.default.removeItem(at: directory) }
}
