import Wire
import WireGuard

#if canImport(Glibc)
import Glibc
#endif

/// A wg-quick configuration file (`wg0.conf`), parsed into a ``NodeConfiguration``.
///
/// The keys WireGuard's `wg setconf` knows plus wg-quick's `Address` and `MTU` are used. wg-quick's
/// host-side keys (`DNS`, `Table`, `PreUp`, `PostUp`, `PreDown`, `PostDown`, `SaveConfig`, `FwMark`)
/// have no meaning for an in-process node: they are accepted and listed in ``ignoredKeys`` so a caller
/// can warn about them. Anything else is an error naming the file and line, as is a bad key, address,
/// prefix, port or a duplicate peer; nothing is half-applied.
public struct WGQuickFile: Sendable {
    /// The node configuration the file describes.
    public var configuration: NodeConfiguration
    /// wg-quick keys that were accepted but do nothing here, with their lines.
    public var ignoredKeys: [(line: Int, key: String)]

    /// Keys wg-quick uses to change the host (routes, DNS, hooks); meaningless inside a process.
    static let hostOnlyKeys: Set<String> = ["dns", "table", "preup", "postup", "predown", "postdown", "saveconfig", "fwmark"]

    /// Parses the text of a configuration file.
    /// - Parameter file: the name used in error messages.
    public init(parsing text: String, file: String = "<config>") throws(ConfigurationError) {
        var parser = Parser(file: file)
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            try parser.consume(line: rawLine, number: index + 1)
        }
        let (configuration, ignored) = try parser.finish()
        self.configuration = configuration
        ignoredKeys = ignored
    }

    /// Reads and parses a configuration file.
    public init(contentsOfFile path: String) throws(ConfigurationError) {
        let text: String
        do { text = try readTextFile(path) } catch {
            throw ConfigurationError(file: path, line: nil, message: error.message)
        }
        try self.init(parsing: text, file: path)
    }
}

extension NodeConfiguration {
    /// A configuration from the text of a wg-quick file (see ``WGQuickFile``).
    public init(wgQuick text: String, file: String = "<config>") throws(ConfigurationError) {
        self = try WGQuickFile(parsing: text, file: file).configuration
    }

    /// A configuration from a wg-quick file on disk (see ``WGQuickFile``).
    public init(contentsOfFile path: String) throws(ConfigurationError) {
        self = try WGQuickFile(contentsOfFile: path).configuration
    }
}

/// Line-by-line state of the parse: which section we are in and what it has said so far.
private struct Parser {
    enum Section { case none, interface, peer }

    struct PeerDraft {
        var line: Int
        var publicKey: PublicKey?
        var presharedKey: PresharedKey?
        var endpoint: PeerEndpoint?
        var allowedIPs: [IPPrefix] = []
        var persistentKeepalive: Duration?
        var seenKeys: Set<String> = []
    }

    let file: String
    var section = Section.none
    var privateKey: PrivateKey?
    var addresses: [IPPrefix] = []
    var listenPort: UInt16?
    var mtu: Int?
    var interfaceSeenKeys: Set<String> = []
    var sawInterface = false
    var peers: [PeerDraft] = []
    var ignored: [(line: Int, key: String)] = []

    init(file: String) { self.file = file }

    func error(_ line: Int?, _ message: String) -> ConfigurationError {
        ConfigurationError(file: file, line: line, message: message)
    }

    mutating func consume(line rawLine: Substring, number: Int) throws(ConfigurationError) {
        var line = rawLine
        if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
        let text = line.trimmingWhitespace()
        if text.isEmpty { return }

        if text.hasPrefix("[") {
            guard text.hasSuffix("]") else { throw error(number, "unterminated section header \(quoted(text))") }
            switch text.dropFirst().dropLast().trimmingWhitespace().lowercased() {
            case "interface":
                if sawInterface { throw error(number, "a second [Interface] section; a file has exactly one") }
                sawInterface = true
                section = .interface
            case "peer":
                section = .peer
                peers.append(PeerDraft(line: number))
            default:
                throw error(number, "unknown section \(quoted(text)); expected [Interface] or [Peer]")
            }
            return
        }

        guard let equals = text.firstIndex(of: "=") else {
            throw error(number, "expected `Key = Value`, found \(quoted(text))")
        }
        let key = text[..<equals].trimmingWhitespace()
        let value = text[text.index(after: equals)...].trimmingWhitespace()
        let lowered = key.lowercased()
        switch section {
        case .none:
            throw error(number, "\(quoted(key)) appears before any [Interface] or [Peer] section")
        case .interface:
            try interfaceKey(key, lowered, value, number)
        case .peer:
            try peerKey(key, lowered, value, number)
        }
    }

    mutating func interfaceKey(_ key: String, _ lowered: String, _ value: String, _ line: Int) throws(ConfigurationError) {
        // Address may repeat (and accumulates, as in wg-quick); every other key is said once.
        if lowered != "address", !interfaceSeenKeys.insert(lowered).inserted {
            throw error(line, "duplicate \(quoted(key)) in [Interface]")
        }
        switch lowered {
        case "privatekey":
            guard let key = PrivateKey(base64: value) else { throw error(line, badKey("PrivateKey")) }
            privateKey = key
        case "address":
            for item in try list(value, line) {
                guard let prefix = IPPrefix(addressOrPrefix: item) else {
                    throw error(line, "bad address \(quoted(item)) in Address; expected e.g. 100.64.0.1/32 or fd7a:115c:a1e0::1/128")
                }
                addresses.append(prefix)
            }
        case "listenport":
            guard let port = UInt16(value) else { throw error(line, "bad ListenPort \(quoted(value)); expected 0...65535") }
            listenPort = port == 0 ? nil : port
        case "mtu":
            guard let mtu = Int(value), (NodeConfiguration.minimumMTU...NodeConfiguration.maximumMTU).contains(mtu) else {
                throw error(line, "bad MTU \(quoted(value)); expected \(NodeConfiguration.minimumMTU)...\(NodeConfiguration.maximumMTU)")
            }
            self.mtu = mtu
        default:
            if WGQuickFile.hostOnlyKeys.contains(lowered) {
                ignored.append((line, key))
            } else {
                throw error(line, "unknown key \(quoted(key)) in [Interface]; known: PrivateKey, Address, ListenPort, MTU")
            }
        }
    }

    mutating func peerKey(_ key: String, _ lowered: String, _ value: String, _ line: Int) throws(ConfigurationError) {
        var peer = peers.removeLast()
        defer { peers.append(peer) }
        if lowered != "allowedips", !peer.seenKeys.insert(lowered).inserted {
            throw error(line, "duplicate \(quoted(key)) in [Peer]")
        }
        switch lowered {
        case "publickey":
            guard let key = PublicKey(base64: value) else { throw error(line, badKey("PublicKey")) }
            peer.publicKey = key
        case "presharedkey":
            guard let key = PresharedKey(base64: value) else { throw error(line, badKey("PresharedKey")) }
            peer.presharedKey = key
        case "endpoint":
            guard let endpoint = PeerEndpoint(value) else {
                throw error(line, "bad Endpoint \(quoted(value)); expected host:port, 192.0.2.1:51820 or [2001:db8::1]:51820")
            }
            peer.endpoint = endpoint
        case "allowedips":
            for item in try list(value, line) {
                guard let prefix = IPPrefix(addressOrPrefix: item) else {
                    throw error(line, "bad CIDR \(quoted(item)) in AllowedIPs; expected e.g. 100.64.0.0/10 or fd7a:115c:a1e0::/48")
                }
                peer.allowedIPs.append(prefix.masked)
            }
        case "persistentkeepalive":
            if value.lowercased() == "off" || value == "0" {
                peer.persistentKeepalive = nil
            } else if let seconds = UInt16(value) {
                peer.persistentKeepalive = .seconds(Int(seconds))
            } else {
                throw error(line, "bad PersistentKeepalive \(quoted(value)); expected seconds 1...65535 or off")
            }
        default:
            throw error(line, "unknown key \(quoted(key)) in [Peer]; known: PublicKey, PresharedKey, Endpoint, AllowedIPs, PersistentKeepalive")
        }
    }

    func list(_ value: String, _ line: Int) throws(ConfigurationError) -> [String] {
        let items = value.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingWhitespace() }
        if items.isEmpty || items.contains(where: \.isEmpty) { throw error(line, "empty item in list \(quoted(value))") }
        return items
    }

    /// `text` for an error message, unless it may carry key material: a line in a configuration file
    /// can hold a private key (a missing `=`, a typo in the key name, a key pasted into the wrong
    /// field), and error messages end up in terminals and logs. A run of 20 or more base64
    /// characters (a key is 43 plus `=`) withholds the whole fragment.
    func quoted(_ text: String) -> String {
        var run = 0
        for byte in text.utf8 {
            let isBase64 = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A)
                || (byte >= 0x61 && byte <= 0x7A) || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "/")
            run = isBase64 ? run + 1 : 0
            if run >= 20 { return "<\(text.count) characters withheld: may contain a key>" }
        }
        return text
    }

    func badKey(_ name: String) -> String {
        "bad base64 key in \(name); expected 44 characters of base64 (32 bytes), as `wirenet genkey` prints"
    }

    func finish() throws(ConfigurationError) -> (NodeConfiguration, [(line: Int, key: String)]) {
        guard sawInterface else { throw error(nil, "no [Interface] section") }
        guard let privateKey else { throw error(nil, "[Interface] has no PrivateKey") }
        var result: [NodeConfiguration.Peer] = []
        var seen: [PublicKey: Int] = [:]
        for draft in peers {
            guard let publicKey = draft.publicKey else { throw error(draft.line, "[Peer] has no PublicKey") }
            if let first = seen[publicKey] {
                throw error(draft.line, "duplicate peer \(publicKey) (first at line \(first))")
            }
            if publicKey == privateKey.publicKey {
                throw error(draft.line, "[Peer] has this node's own public key")
            }
            seen[publicKey] = draft.line
            result.append(NodeConfiguration.Peer(
                publicKey: publicKey, presharedKey: draft.presharedKey, endpoint: draft.endpoint,
                allowedIPs: draft.allowedIPs, persistentKeepalive: draft.persistentKeepalive))
        }
        let configuration = NodeConfiguration(
            privateKey: privateKey, addresses: addresses, listenPort: listenPort,
            mtu: mtu ?? NodeConfiguration.defaultMTU, peers: result)
        try configuration.validate(file: file)
        return (configuration, ignored)
    }
}

extension IPPrefix {
    /// A prefix from `a.b.c.d/len`, or a bare address meaning a single host (/32 or /128), as wg accepts.
    init?(addressOrPrefix text: String) {
        if text.contains("/") {
            self.init(text)
        } else if let address = IPAddress(text) {
            self.init(address, length: address.bitWidth)
        } else {
            return nil
        }
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}

struct FileReadError: Error { var message: String }

/// Reads a whole UTF-8 text file without Foundation (keeps the library's dependencies small).
func readTextFile(_ path: String) throws(FileReadError) -> String {
    guard let handle = fopen(path, "r") else {
        throw FileReadError(message: "cannot open: \(String(cString: strerror(errno)))")
    }
    defer { fclose(handle) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, handle) }
        if n > 0 { bytes.append(contentsOf: chunk[0..<n]) }
        if n < chunk.count {
            if ferror(handle) != 0 { throw FileReadError(message: "read failed: \(String(cString: strerror(errno)))") }
            break
        }
        if bytes.count > 1 << 20 { throw FileReadError(message: "larger than 1 MiB; not a configuration file") }
    }
    return String(decoding: bytes, as: UTF8.self)
}
