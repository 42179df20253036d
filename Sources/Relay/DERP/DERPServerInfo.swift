/// The relay's info from its server-info frame (`derp.go`, `serverInfo`): the JSON the relay seals to
/// the client, `{"version":2,"TokenBucketBytesPerSecond":…,"TokenBucketBytesBurst":…}`.
public struct DERPServerInfo: Equatable, Sendable {
    /// The relay's protocol version (absent in the JSON: unknown).
    public var version: Int?
    /// The relay's per-client rate limit in bytes per second (absent: none).
    public var tokenBucketBytesPerSecond: Int?
    /// The burst the relay's rate limit allows (absent: none).
    public var tokenBucketBytesBurst: Int?

    public init(version: Int? = nil, tokenBucketBytesPerSecond: Int? = nil, tokenBucketBytesBurst: Int? = nil) {
        self.version = version
        self.tokenBucketBytesPerSecond = tokenBucketBytesPerSecond
        self.tokenBucketBytesBurst = tokenBucketBytesBurst
    }

    /// Reads the integer fields of the JSON object; unknown fields and other value kinds are skipped.
    /// Returns nil when `json` is not a JSON object.
    public init?(json: [UInt8]) {
        guard let fields = JSONScalarFields(json) else { return nil }
        version = fields.integers["version"]
        tokenBucketBytesPerSecond = fields.integers["TokenBucketBytesPerSecond"]
        tokenBucketBytesBurst = fields.integers["TokenBucketBytesBurst"]
    }
}

/// The integer members of one flat JSON object (RFC 8259), enough for DERP's server info. Nested
/// values, strings and other literals are skipped; depth and length are bounded by the input.
struct JSONScalarFields {
    private(set) var integers: [String: Int] = [:]

    init?(_ bytes: [UInt8]) {
        var index = 0
        func skipSpace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }
        func string() -> String? {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
            index += 1
            let start = index
            while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
            }
            guard index < bytes.count else { return nil }
            defer { index += 1 }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }
        /// Skips one value of any kind; returns its integer value when it is an integer.
        func value() -> (skipped: Bool, integer: Int?) {
            guard index < bytes.count else { return (false, nil) }
            switch bytes[index] {
            case UInt8(ascii: "\""):
                return (string() != nil, nil)
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                while index < bytes.count {
                    switch bytes[index] {
                    case UInt8(ascii: "\""):
                        guard string() != nil else { return (false, nil) }
                        continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
                    default: break
                    }
                    index += 1
                    if depth == 0 { return (true, nil) }
                }
                return (false, nil)
            default:
                let start = index
                while index < bytes.count, ![UInt8(ascii: ","), UInt8(ascii: "}"), 0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) {
                    index += 1
                }
                guard index > start else { return (false, nil) }
                return (true, Int(String(decoding: bytes[start..<index], as: UTF8.self)))
            }
        }

        skipSpace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { return nil }
        index += 1
        skipSpace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") { return }
        while true {
            skipSpace()
            guard let key = string() else { return nil }
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
            index += 1
            skipSpace()
            let (ok, integer) = value()
            guard ok else { return nil }
            if let integer { integers[key] = integer }
            skipSpace()
            guard index < bytes.count else { return nil }
            if bytes[index] == UInt8(ascii: "}") { return }
            guard bytes[index] == UInt8(ascii: ",") else { return nil }
            index += 1
        }
    }
}
