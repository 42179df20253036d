#if CLI  // The command itself needs swift-argument-parser (and --metrics swift-prometheus): Package.swift.
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import WireGuard

/// `wirenet genkey`: a new private key in base64, as `wg genkey` prints it.
struct GenerateKey: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "genkey", abstract: "Print a new private key (base64), like `wg genkey`.")

    func run() {
        if let warning = KeyFileAccess.worldAccessibleWarning(forOutput: STDOUT_FILENO) { Console.error(warning) }
        Console.out(PrivateKey().base64)
    }
}

/// `wirenet genpsk`: a new pre-shared key in base64, as `wg genpsk` prints it.
struct GeneratePresharedKey: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "genpsk", abstract: "Print a new pre-shared key (base64), like `wg genpsk`.")

    func run() {
        if let warning = KeyFileAccess.worldAccessibleWarning(forOutput: STDOUT_FILENO) { Console.error(warning) }
        Console.out(PresharedKey().base64)
    }
}

/// `wirenet pubkey`: reads a private key on standard input and prints its public key, as `wg pubkey` does.
struct PublicKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pubkey", abstract: "Read a private key on standard input, print its public key, like `wg pubkey`.")

    func run() throws {
        do {
            Console.out(try KeyText.publicKey(forPrivateKeyText: readStandardInput(limit: 4096)))
        } catch {
            Console.error("wirenet: \(error)")
            throw ExitCode.failure
        }
    }
}

/// The key text rules of `wg pubkey`: exactly 44 base64 characters, then only whitespace.
public enum KeyText {
    /// A key text that is not a base64 key.
    public struct Malformed: Error, Equatable, CustomStringConvertible {
        /// wg's own wording of the problem.
        public var description: String
    }

    /// The public key (base64) of the private key in `text`.
    public static func publicKey(forPrivateKeyText text: [UInt8]) throws(Malformed) -> String {
        let keyLength = 44
        guard text.count >= keyLength else { throw Malformed(description: "Key is not the correct length or format") }
        let trailing = text[keyLength...]
        guard trailing.allSatisfy({ $0 == 0 || $0 == 32 || (9...13).contains($0) }) else {
            throw Malformed(description: "Trailing characters found after key")
        }
        guard let key = PrivateKey(base64: String(decoding: text[..<keyLength], as: UTF8.self)) else {
            throw Malformed(description: "Key is not the correct length or format")
        }
        return key.publicKey.description
    }
}

/// Standard input to the end, at most `limit` bytes (a key file is tiny).
private func readStandardInput(limit: Int) -> [UInt8] {
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 512)
    while bytes.count < limit {
        let count = buffer.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        if count <= 0 { break }
        bytes += buffer[0..<count]
    }
    return bytes
}
#endif
