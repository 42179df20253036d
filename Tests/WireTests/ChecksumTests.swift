import Testing
@testable import Wire

@Suite("Internet checksum (RFC 1071, RFC 1624)")
struct ChecksumTests {
    @Test("sum equals the byte-loop reference for every length 0...2000 at every alignment 0...7")
    func sumMatchesReferenceForAllLengthsAndOffsets() {
        var rng = SplitMix64(seed: 1071)
        let storage = (0..<2016).map { _ in UInt8.random(in: 0...255, using: &rng) }
        storage.withUnsafeBytes { all in
            for offset in 0..<8 {
                for length in 0...2000 {
                    let slice = UnsafeRawBufferPointer(rebasing: all[offset..<offset + length])
                    var sum = Checksum()
                    sum.add(slice)
                    let expected = referenceChecksumSum(storage[offset..<offset + length])
                    if sum.sum != expected {
                        Issue.record("offset \(offset) length \(length): \(sum.sum) != \(expected)")
                        return
                    }
                }
            }
        }
    }

    @Test("all-ones data exercises every carry and still matches the reference")
    func carriesAreFolded() {
        let ones = [UInt8](repeating: 0xFF, count: 4099)
        ones.withUnsafeBytes { bytes in
            var sum = Checksum()
            sum.add(bytes)
            #expect(sum.sum == referenceChecksumSum(ones))
        }
    }

    @Test("adding data in pieces of any size, odd ones included, equals adding it at once")
    func splitAddsEqualWholeAdd() {
        var rng = SplitMix64(seed: 42)
        let data = (0..<1500).map { _ in UInt8.random(in: 0...255, using: &rng) }
        data.withUnsafeBytes { all in
            for _ in 0..<500 {
                var sum = Checksum()
                var start = 0
                while start < data.count {
                    let end = min(data.count, start + Int.random(in: 0...70, using: &rng))
                    sum.add(UnsafeRawBufferPointer(rebasing: all[start..<end]))
                    start = end
                }
                #expect(sum.sum == referenceChecksumSum(data))
            }
        }
    }

    @Test("RFC 1071 §3 worked example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2")
    func rfc1071Example() {
        let data: [UInt8] = [0x00, 0x01, 0xF2, 0x03, 0xF4, 0xF5, 0xF6, 0xF7]
        data.withUnsafeBytes { bytes in
            var sum = Checksum()
            sum.add(bytes)
            #expect(sum.sum == 0xDDF2)
            #expect(sum.checksum == 0x220D)
        }
    }

    @Test("16- and 32-bit field adds equal adding their big-endian bytes, also at odd positions")
    func fieldAddsMatchByteAdds() {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<1000 {
            let prefix = Int.random(in: 0...5, using: &rng)
            let bytes = (0..<prefix).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let word = UInt32.random(in: 0...UInt32.max, using: &rng)
            let half = UInt16.random(in: 0...UInt16.max, using: &rng)
            var fields = Checksum()
            bytes.withUnsafeBytes { fields.add($0) }
            fields.add(word)
            fields.add(half)
            let all = bytes + [UInt8(word >> 24), UInt8(word >> 16 & 0xFF), UInt8(word >> 8 & 0xFF), UInt8(word & 0xFF),
                               UInt8(half >> 8), UInt8(half & 0xFF)]
            #expect(fields.sum == referenceChecksumSum(all))
        }
    }

    @Test("RFC 1624 eqn 3 incremental update equals recomputing after a 16- or 32-bit field changes")
    func incrementalUpdateEqualsRecompute() {
        var rng = SplitMix64(seed: 1624)
        for _ in 0..<2000 {
            var data = (0..<40).map { _ in UInt8.random(in: 0...255, using: &rng) }
            data[10] = 0
            data[11] = 0
            let before = data.withUnsafeBytes { Checksum.compute($0) }
            // A 16-bit field at an even offset.
            let at = 2 * Int.random(in: 6...19, using: &rng)
            let old16 = UInt16(data[at]) << 8 | UInt16(data[at + 1])
            let new16 = UInt16.random(in: 0...UInt16.max, using: &rng)
            data[at] = UInt8(new16 >> 8)
            data[at + 1] = UInt8(new16 & 0xFF)
            let updated16 = Checksum.update(before, replacing: old16, with: new16)
            #expect(updated16 == data.withUnsafeBytes { Checksum.compute($0) })
            // A 32-bit field (say an address at offset 12).
            let old32 = UInt32(data[12]) << 24 | UInt32(data[13]) << 16 | UInt32(data[14]) << 8 | UInt32(data[15])
            let new32 = UInt32.random(in: 0...UInt32.max, using: &rng)
            data[12] = UInt8(new32 >> 24); data[13] = UInt8(new32 >> 16 & 0xFF)
            data[14] = UInt8(new32 >> 8 & 0xFF); data[15] = UInt8(new32 & 0xFF)
            let updated32 = Checksum.update(updated16, replacing: old32, with: new32)
            #expect(updated32 == data.withUnsafeBytes { Checksum.compute($0) })
        }
    }

    @Test("IPv4 pseudo-header equals summing its 12 bytes (RFC 9293 §3.1)")
    func ipv4PseudoHeaderLayout() {
        let source = IPv4Address(192, 0, 2, 1), destination = IPv4Address(198, 51, 100, 7)
        let bytes: [UInt8] = [192, 0, 2, 1, 198, 51, 100, 7, 0, 6, 0x05, 0xDC]
        let pseudo = Checksum.pseudoHeader(source: source, destination: destination, protocol: .tcp, length: 1500)
        #expect(pseudo.sum == referenceChecksumSum(bytes))
    }

    @Test("IPv6 pseudo-header equals summing its 40 bytes (RFC 8200 §8.1)")
    func ipv6PseudoHeaderLayout() {
        let source = IPv6Address("2001:db8::1")!, destination = IPv6Address("fe80::abcd:1234")!
        var bytes: [UInt8] = [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [1]
        bytes += [0xFE, 0x80] + [UInt8](repeating: 0, count: 10) + [0xAB, 0xCD, 0x12, 0x34]
        bytes += [0, 1, 0x00, 0x10, 0, 0, 0, 58]
        let pseudo = Checksum.pseudoHeader(source: source, destination: destination, protocol: .icmpv6, length: 65552)
        #expect(pseudo.sum == referenceChecksumSum(bytes))
    }
}
