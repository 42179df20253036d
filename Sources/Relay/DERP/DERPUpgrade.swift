import WireGuard

/// The HTTP/1.1 upgrade that turns a TCP or TLS connection into a DERP connection
/// (`derphttp_client.go`): `GET /derp` with `Upgrade: DERP`, answered by `101 Switching Protocols`.
public enum DERPUpgrade {
    /// The largest response head accepted before the frames start (implementation choice; real
    /// relays send a few hundred bytes).
    public static let maxResponseHeadLength = 8 << 10

    /// The request for `host` (the relay's host name, or its address when it has none).
    public static func request(host: String) -> [UInt8] {
        Array("GET /derp HTTP/1.1\r\nHost: \(host)\r\nConnection: Upgrade\r\nUpgrade: DERP\r\nUser-Agent: wirenet\r\n\r\n".utf8)
    }

    /// A parsed `101` response head.
    public struct Response: Equatable, Sendable {
        /// Bytes of the head, up to and including the blank line; DERP frames follow.
        public var headLength: Int
        /// The relay's key from `Derp-Public-Key` (tailscale's server sends it), if present.
        public var serverKey: PublicKey?

        public init(headLength: Int, serverKey: PublicKey?) {
            self.headLength = headLength
            self.serverKey = serverKey
        }
    }

    /// Parses the response head at the start of `bytes`. Returns nil when the head is incomplete.
    /// - Throws: ``DERPError/upgradeRefused(_:)`` for any status but 101, a malformed head, or a
    ///   head longer than ``maxResponseHeadLength``.
    public static func parseResponse(_ bytes: UnsafeRawBufferPointer) throws(DERPError) -> Response? {
        let crlfcrlf: [UInt8] = [13, 10, 13, 10]
        var end: Int?
        if bytes.count >= 4 {
            for index in 0...(bytes.count - 4) where bytes[index] == 13 && bytes.slice(index, index + 4).hasPrefix(crlfcrlf) {
                end = index
                break
            }
        }
        guard let end else {
            if bytes.count > maxResponseHeadLength { throw .upgradeRefused("response head longer than \(maxResponseHeadLength) bytes") }
            return nil
        }
        let head = String(decoding: bytes.slice(0, end), as: UTF8.self)
        let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        let status = lines.first.map(String.init) ?? ""
        let parts = status.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1.") else {
            throw .upgradeRefused("not an HTTP response: \(status.prefix(80))")
        }
        guard parts[1] == "101" else { throw .upgradeRefused("HTTP status \(status.dropFirst(9).prefix(80))") }
        var serverKey: PublicKey?
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingSpaces
            if name == "derp-public-key" {
                guard let key = PublicKey(hex: value) else { throw .upgradeRefused("malformed Derp-Public-Key header") }
                serverKey = key
            }
        }
        return Response(headLength: end + 4, serverKey: serverKey)
    }
}

extension PublicKey {
    /// Parses 64 hexadecimal digits (upper or lower case); nil otherwise.
    public init?(hex: some StringProtocol) {
        let digits = Array(hex.utf8)
        guard digits.count == 64 else { return nil }
        var bytes = [UInt8]()
        bytes.reserveCapacity(32)
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        for index in stride(from: 0, to: 64, by: 2) {
            guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        self.init(Key32(bytes: bytes)!)
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var text = self
        while text.first == " " || text.first == "\t" { text.removeFirst() }
        while text.last == " " || text.last == "\t" { text.removeLast() }
        return text
    }
}
