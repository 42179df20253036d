@testable import Wire

/// Byte helpers shared by the Wire tests.
enum Bytes {
    /// Decodes hex, ignoring whitespace.
    static func hex(_ text: String) -> [UInt8] {
        let digits = text.unicodeScalars.filter { !$0.properties.isWhitespace }.map { Character($0) }
        var result: [UInt8] = []
        var index = 0
        while index + 1 < digits.count {
            result.append(UInt8(String(digits[index...index + 1]), radix: 16)!)
            index += 2
        }
        return result
    }

    static func hexString(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }
}

/// RFC 1071 reference: a byte loop summing big-endian 16-bit words, folding at every step.
func referenceChecksumSum(_ bytes: some Collection<UInt8>) -> UInt16 {
    var sum: UInt32 = 0
    var iterator = bytes.makeIterator()
    while let high = iterator.next() {
        let low = iterator.next() ?? 0
        sum += UInt32(high) << 8 | UInt32(low)
        sum = (sum & 0xFFFF) + (sum >> 16)
    }
    return UInt16(sum)
}

/// A small deterministic PRNG (SplitMix64) so random tests are reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Array where Element == UInt8 {
    /// Runs `body` with a read-only view of the bytes.
    @discardableResult
    func withView<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(body)
    }
}
