/// A pull reader over JSON bytes (RFC 8259), for the netmap event: one pass, no intermediate
/// tree, strings built only for the values asked for. It never traps: every byte access is
/// bounds-checked, nesting is limited, numbers that overflow and malformed input throw
/// ``ControlProtocolError``.
///
/// Objects and arrays are walked with a `first` flag the caller keeps:
///
///     try scanner.beginObject()
///     var first = true
///     while let key = try scanner.nextKey(&first) { … read or skip the value … }
///
/// Written because Foundation's `JSONDecoder` into `Codable` structs took 0.4–1.2 s for a
/// 10,000-peer netmap (5 MB) on the perf machine (perf/results/2026-12-01T0025Z-tailnet-scale.txt);
/// `JSONSerialization` was no faster.
struct JSONScanner {
    private let bytes: UnsafeRawBufferPointer
    private(set) var index = 0
    private var depth = 0

    /// Nesting deeper than this is refused (the netmap needs 5; a recursion bound for skipping).
    static let maximumDepth = 64

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    // MARK: Structure

    /// Consumes `{`.
    mutating func beginObject() throws(ControlProtocolError) {
        try open(UInt8(ascii: "{"))
    }

    /// The next member's key, consuming the `:` after it; nil after the closing `}`.
    mutating func nextKey(_ first: inout Bool) throws(ControlProtocolError) -> String? {
        guard try nextMember(close: UInt8(ascii: "}"), &first) else { return nil }
        let key = try string()
        skipWhitespace()
        guard peek() == UInt8(ascii: ":") else { throw error("':' expected after a key") }
        index += 1
        return key
    }

    /// Consumes `[`.
    mutating func beginArray() throws(ControlProtocolError) {
        try open(UInt8(ascii: "["))
    }

    /// Whether another element follows (positioned at it); false after the closing `]`.
    mutating func nextElement(_ first: inout Bool) throws(ControlProtocolError) -> Bool {
        try nextMember(close: UInt8(ascii: "]"), &first)
    }

    /// Checks that only whitespace is left.
    mutating func end() throws(ControlProtocolError) {
        skipWhitespace()
        guard index == bytes.count else { throw error("unexpected text after the JSON value") }
    }

    // MARK: Values

    /// Consumes a `null` if one is next.
    mutating func null() -> Bool {
        skipWhitespace()
        guard literal("null") else { return false }
        return true
    }

    /// A string value.
    mutating func string() throws(ControlProtocolError) -> String {
        skipWhitespace()
        guard peek() == UInt8(ascii: "\"") else { throw error("string expected") }
        index += 1
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let text = try validated(UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
                index += 1
                return text
            }
            if byte == UInt8(ascii: "\\") { return try escapedString(from: start) }
            if byte < 0x20 { throw error("control character in a string") }
            index += 1
        }
        throw error("unterminated string")
    }

    /// An integer value (no fraction or exponent), within Int64.
    mutating func integer() throws(ControlProtocolError) -> Int64 {
        skipWhitespace()
        var negative = false
        if peek() == UInt8(ascii: "-") { negative = true; index += 1 }
        guard let firstDigit = peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(firstDigit) else {
            throw error("number expected")
        }
        var value: Int64 = 0
        let start = index
        while let byte = peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
            let digit = Int64(byte - UInt8(ascii: "0"))
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = negative ? times.subtractingReportingOverflow(digit) : times.addingReportingOverflow(digit)
            guard !overflow1, !overflow2 else { throw error("integer out of range") }
            value = next
            index += 1
        }
        if firstDigit == UInt8(ascii: "0"), index - start > 1 { throw error("leading zero in a number") }
        if let byte = peek(), byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
            throw error("integer expected, found a fraction or exponent")
        }
        return value
    }

    /// `true` or `false`.
    mutating func bool() throws(ControlProtocolError) -> Bool {
        skipWhitespace()
        if literal("true") { return true }
        if literal("false") { return false }
        throw error("true or false expected")
    }

    /// Skips one value of any kind and returns the bytes it spanned.
    @discardableResult
    mutating func skipValue() throws(ControlProtocolError) -> UnsafeRawBufferPointer {
        skipWhitespace()
        let start = index
        switch peek() {
        case UInt8(ascii: "{"):
            try beginObject()
            var first = true
            while try nextKey(&first) != nil { try skipValue() }
        case UInt8(ascii: "["):
            try beginArray()
            var first = true
            while try nextElement(&first) { try skipValue() }
        case UInt8(ascii: "\""):
            _ = try string()
        case UInt8(ascii: "t"), UInt8(ascii: "f"):
            _ = try bool()
        case UInt8(ascii: "n"):
            guard null() else { throw error("value expected") }
        default:
            try skipNumber()
        }
        return UnsafeRawBufferPointer(rebasing: bytes[start..<index])
    }

    // MARK: Helpers

    private func peek() -> UInt8? {
        index < bytes.count ? bytes[index] : nil
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard bytes.count - index >= count else { return false }
        let bytes = bytes, start = index
        let matches = word.withUTF8Buffer { expected in
            (0..<count).allSatisfy { bytes[start + $0] == expected[$0] }
        }
        if matches { index += count }
        return matches
    }

    private mutating func open(_ byte: UInt8) throws(ControlProtocolError) {
        skipWhitespace()
        guard peek() == byte else { throw error("'\(Character(Unicode.Scalar(byte)))' expected") }
        guard depth < Self.maximumDepth else { throw error("nested deeper than \(Self.maximumDepth)") }
        depth += 1
        index += 1
    }

    private mutating func nextMember(close: UInt8, _ first: inout Bool) throws(ControlProtocolError) -> Bool {
        skipWhitespace()
        if peek() == close {
            index += 1
            depth -= 1
            return false
        }
        if !first {
            guard peek() == UInt8(ascii: ",") else { throw error("',' or '\(Character(Unicode.Scalar(close)))' expected") }
            index += 1
            skipWhitespace()
            if peek() == close { throw error("trailing comma") }
        }
        guard peek() != nil else { throw error("unexpected end of the JSON") }
        first = false
        return true
    }

    private mutating func skipNumber() throws(ControlProtocolError) {
        let start = index
        if peek() == UInt8(ascii: "-") { index += 1 }
        var digits = 0
        while let byte = peek() {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digits += 1
            case UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"), UInt8(ascii: "+"), UInt8(ascii: "-"): break
            default: guard digits > 0, index > start else { throw error("value expected") }; return
            }
            index += 1
        }
        guard digits > 0 else { throw error("value expected") }
    }

    /// A string with escapes; `start` is just after the opening quote, `index` at the first `\`.
    private mutating func escapedString(from start: Int) throws(ControlProtocolError) -> String {
        var out = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard let text = String(validating: out, as: UTF8.self) else { throw error("string is not UTF-8") }
                return text
            case UInt8(ascii: "\\"):
                guard let escape = peek() else { throw error("unterminated string") }
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard literal("\\u") else { throw error("unpaired surrogate in a string") }
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate in a string") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw error("unpaired surrogate in a string") }
                    out.append(contentsOf: unicode.utf8)
                default:
                    throw error("unknown escape in a string")
                }
            default:
                if byte < 0x20 { throw error("control character in a string") }
                out.append(byte)
            }
        }
        throw error("unterminated string")
    }

    private mutating func hex4() throws(ControlProtocolError) -> UInt32 {
        guard bytes.count - index >= 4 else { throw error("short \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("bad \\u escape")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    private func validated(_ raw: UnsafeRawBufferPointer) throws(ControlProtocolError) -> String {
        guard let text = String(validating: raw, as: UTF8.self) else { throw error("string is not UTF-8") }
        return text
    }

    private func error(_ what: String) -> ControlProtocolError {
        ControlProtocolError(message: "\(what) at byte \(index)")
    }
}
