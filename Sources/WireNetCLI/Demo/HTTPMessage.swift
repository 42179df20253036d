/// The head of an HTTP/1.1 request (RFC 9112 §3): request line and header fields.
public struct HTTPRequestHead: Equatable, Sendable {
    /// `GET`, `HEAD`, ... (upper-case letters only).
    public var method: String
    /// The request target as sent (origin form, e.g. `/bytes/1024?x=1`).
    public var target: String
    /// `HTTP/1.1` or `HTTP/1.0`.
    public var version: String
    /// Field names lower-cased (they are case-insensitive, RFC 9110 §5.1), in order.
    public var fields: [(name: String, value: String)]

    /// Largest head accepted: more is a client error (RFC 9112 §2.3 leaves the limit to the server).
    public static let maximumLength = 8 * 1024

    public static func == (a: HTTPRequestHead, b: HTTPRequestHead) -> Bool {
        a.method == b.method && a.target == b.target && a.version == b.version
            && a.fields.map(\.name) == b.fields.map(\.name) && a.fields.map(\.value) == b.fields.map(\.value)
    }

    /// Parses the head, `bytes` being everything before the empty line (CRLF CRLF).
    public init(parsing bytes: ArraySlice<UInt8>) throws(HTTPParseError) {
        var lines = splitLines(bytes)
        guard !lines.isEmpty else { throw HTTPParseError("empty request") }
        let requestLine = lines.removeFirst()
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw HTTPParseError("malformed request line `\(requestLine)`")
        }
        guard parts[0].allSatisfy({ $0.isASCII && $0.isUppercase }) else { throw HTTPParseError("bad method `\(parts[0])`") }
        guard parts[2] == "HTTP/1.1" || parts[2] == "HTTP/1.0" else { throw HTTPParseError("unsupported version `\(parts[2])`") }
        method = String(parts[0])
        target = String(parts[1])
        version = String(parts[2])
        fields = try lines.map { line throws(HTTPParseError) in try parseField(line) }
    }

    /// The value of the first field named `name` (case-insensitive).
    public func field(_ name: String) -> String? {
        let lowered = name.lowercased()
        return fields.first { $0.name == lowered }?.value
    }
}

/// The head of an HTTP/1.1 response: status line and header fields.
public struct HTTPResponseHead: Sendable {
    /// `HTTP/1.1` or `HTTP/1.0`.
    public var version: String
    /// The three-digit status code.
    public var status: Int
    /// The reason phrase (may be empty).
    public var reason: String
    /// Field names lower-cased, in order.
    public var fields: [(name: String, value: String)]

    /// Parses the head, `bytes` being everything before the empty line.
    public init(parsing bytes: ArraySlice<UInt8>) throws(HTTPParseError) {
        var lines = splitLines(bytes)
        guard !lines.isEmpty else { throw HTTPParseError("empty response") }
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), parts[1].count == 3, let status = Int(parts[1]) else {
            throw HTTPParseError("malformed status line `\(statusLine)`")
        }
        version = String(parts[0])
        self.status = status
        reason = parts.count == 3 ? String(parts[2]) : ""
        fields = try lines.map { line throws(HTTPParseError) in try parseField(line) }
    }

    /// The value of the first field named `name` (case-insensitive).
    public func field(_ name: String) -> String? {
        let lowered = name.lowercased()
        return fields.first { $0.name == lowered }?.value
    }

    /// `Content-Length` as a number, when present and valid.
    public var contentLength: UInt64? { field("content-length").flatMap { UInt64($0) } }
}

/// A request or response that is not HTTP/1.1 as we speak it.
public struct HTTPParseError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What is malformed.
    public var description: String
    init(_ description: String) { self.description = description }
}

/// The index just past the CRLF CRLF that ends a head in `bytes`, if it is there.
func endOfHead(in bytes: [UInt8]) -> Int? {
    guard bytes.count >= 4 else { return nil }
    for index in 0...(bytes.count - 4)
    where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
        return index + 4
    }
    return nil
}

private func splitLines(_ bytes: ArraySlice<UInt8>) -> [String] {
    let text = String(decoding: bytes, as: UTF8.self)
    return text.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty }
}

/// `Name: value` (RFC 9110 §5.5: the value without surrounding whitespace; RFC 9112 §5.1: no
/// whitespace between name and colon).
private func parseField(_ line: String) throws(HTTPParseError) -> (name: String, value: String) {
    guard let colon = line.firstIndex(of: ":") else { throw HTTPParseError("header line without `:`: `\(line)`") }
    let name = line[..<colon]
    guard !name.isEmpty, !name.contains(where: { $0 == " " || $0 == "\t" }) else {
        throw HTTPParseError("bad header name `\(name)`")
    }
    let value = line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" }
    var end = value.endIndex
    while end > value.startIndex, value[value.index(before: end)] == " " || value[value.index(before: end)] == "\t" {
        end = value.index(before: end)
    }
    return (name.lowercased(), String(value[..<end]))
}
