import Testing
@testable import WireGuard

@Suite struct BLAKE2sKnownAnswerTests {
    @Test func blake2s256OfABCMatchesRFC7693AppendixB() {
        var state = BLAKE2s()
        state.update(Array("abc".utf8))
        #expect(hexString(state.finalizeToArray()) == "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982")
    }

    /// RFC 7693 Appendix E: the self-test "grand hash" over digest lengths 16/20/28/32, input lengths
    /// 0/3/64/65/255/1024, unkeyed and keyed.
    @Test func selfTestGrandHashMatchesRFC7693AppendixE() {
        func sequence(_ length: Int, seed: UInt32) -> [UInt8] {
            var a: UInt32 = 0xDEAD_4BAD &* seed
            var b: UInt32 = 1
            return (0..<length).map { _ in
                let t = a &+ b
                a = b
                b = t
                return UInt8(truncatingIfNeeded: t >> 24)
            }
        }
        var grand = BLAKE2s()
        for outputSize in [16, 20, 28, 32] {
            for inputLength in [0, 3, 64, 65, 255, 1024] {
                let input = sequence(inputLength, seed: UInt32(inputLength))
                var unkeyed = BLAKE2s(outputSize: outputSize)
                unkeyed.update(input)
                grand.update(unkeyed.finalizeToArray())
                let key = sequence(outputSize, seed: UInt32(outputSize))
                var keyed = key.withUnsafeBytes { BLAKE2s(outputSize: outputSize, key: $0) }
                keyed.update(input)
                grand.update(keyed.finalizeToArray())
            }
        }
        #expect(hexString(grand.finalizeToArray()) == "6a411f08ce25adcdfb02aba641451cec53c598b24f4fc787fbdc88797f4c1dfe")
    }

    @Test func keyedBLAKE2sMatchesReferenceKAT() {
        let key = Array(UInt8(0)...UInt8(31))
        var empty = key.withUnsafeBytes { BLAKE2s(key: $0) }
        #expect(hexString(empty.finalizeToArray()) == "48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49")
        var one = key.withUnsafeBytes { BLAKE2s(key: $0) }
        one.update([UInt8(0)])
        #expect(hexString(one.finalizeToArray()) == "40d15fee7c328830166ac3f918650f807e7e01e177258cdc0a39b11f598066f1")
    }

    @Test func incrementalUpdatesEqualOneShotAcrossBlockBoundaries() {
        let data = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        var whole = BLAKE2s()
        whole.update(data)
        let expected = whole.finalizeToArray()
        for split in [1, 63, 64, 65, 128, 299] {
            var parts = BLAKE2s()
            parts.update(Array(data[0..<split]))
            parts.update(Array(data[split...]))
            #expect(parts.finalizeToArray() == expected, "split at \(split)")
        }
    }

    @Test func mac128IsKeyedBLAKE2sWith16ByteOutput() {
        let key = Array(UInt8(0)...UInt8(31))
        let mac = key.withUnsafeBytes { k in Array("mac".utf8).withUnsafeBytes { MAC16.compute(key: k, $0) } }
        #expect(mac.withUnsafeBytes { hexString($0) } == "7bcf64642b66a8ef2553d73598fc14a4")
    }
}

/// Expected values computed with golang.org/x/crypto (the primitives wireguard-go uses).
@Suite struct KeyDerivationKnownAnswerTests {
    let key = Key32(bytes: Array(UInt8(0)...UInt8(31)))!

    @Test func hmacBLAKE2sMatchesGoCrypto() {
        let mac = key.withUnsafeBytes { k in Array("WireGuard".utf8).withUnsafeBytes { NoiseKDF.hmac(key: k, $0) } }
        #expect(mac.hexString == "5415924543576b3f5ee867c94e1aab70586d33b32fae3fccd2c635b3e1d7198d")
    }

    @Test func kdf1kdf2kdf3MatchTheWireGuardHKDF() {
        Array("input".utf8).withUnsafeBytes { input in
            let t1 = NoiseKDF.kdf1(key: key, input: input)
            let (a1, a2) = NoiseKDF.kdf2(key: key, input: input)
            let (b1, b2, b3) = NoiseKDF.kdf3(key: key, input: input)
            #expect(t1.hexString == "87b7f70b24183c6db5dc4f6d9f4c47cdb203321aa2a0bef714896adb3107a040")
            #expect(a1.hexString == t1.hexString && b1.hexString == t1.hexString)
            #expect(a2.hexString == "538a02e1eb2e31b7e4d4b82476d1fe2acf50085d3fb584537279195f5d1f5824")
            #expect(b2.hexString == a2.hexString)
            #expect(b3.hexString == "9ad858025593be88de0f9442a589cfe84a88dc19e4753d93684d1c5efc4837f9")
        }
    }

    @Test func initialChainingKeyAndHashComeFromTheConstructionAndIdentifier() {
        #expect(NoiseHandshake.initialChainKey.hexString == "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36")
        #expect(NoiseHandshake.initialHash.hexString == "2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3")
    }
}

@Suite struct AsymmetricAndAEADKnownAnswerTests {
    @Test func x25519MatchesRFC7748Section6_1() {
        let alice = PrivateKey(key32("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
        #expect(alice.publicKey.key.hexString == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
        let bob = PublicKey(key32("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"))
        #expect(alice.sharedSecret(with: bob)?.hexString == "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
    }

    @Test func x25519RejectsLowOrderPoints() {
        let zeroPoint = PublicKey(Key32())
        #expect(PrivateKey().sharedSecret(with: zeroPoint) == nil)
    }

    @Test func chaCha20Poly1305UsesWireGuardNonceLayout() {
        let key = Key32(bytes: Array(UInt8(0)...UInt8(31)))!
        var text = Array("hello wireguard".utf8) + [UInt8](repeating: 0, count: 16)
        let ad = Array("ad".utf8)
        ad.withUnsafeBytes { additional in
            text.withUnsafeMutableBytes {
                ChaCha20Poly1305.seal(key: key, counter: 0x0102_0304_0506_0708, text: $0.baseAddress!, length: 15, additionalData: additional)
            }
        }
        #expect(hexString(text) == "982cc188c4199d7116ce4db9120a0530cb9a4e8b1b80adc5c1079c2bfbe8ee")
        let opened = ad.withUnsafeBytes { additional in
            text.withUnsafeMutableBytes {
                ChaCha20Poly1305.open(key: key, counter: 0x0102_0304_0506_0708, text: $0.baseAddress!, length: 15, additionalData: additional)
            }
        }
        #expect(opened)
        #expect(String(decoding: text[0..<15], as: UTF8.self) == "hello wireguard")
    }

    @Test func chaCha20Poly1305RejectsTamperedCiphertextAndWrongCounter() {
        let key = Key32(bytes: Array(UInt8(0)...UInt8(31)))!
        var text = [UInt8](repeating: 7, count: 48)
        text.withUnsafeMutableBytes { ChaCha20Poly1305.seal(key: key, counter: 5, text: $0.baseAddress!, length: 32) }
        var wrongCounter = text
        #expect(!wrongCounter.withUnsafeMutableBytes { ChaCha20Poly1305.open(key: key, counter: 6, text: $0.baseAddress!, length: 32) })
        text[3] ^= 1
        #expect(!text.withUnsafeMutableBytes { ChaCha20Poly1305.open(key: key, counter: 5, text: $0.baseAddress!, length: 32) })
    }

    @Test func xChaCha20Poly1305MatchesGoCrypto() {
        let key = Key32(bytes: Array(UInt8(0)...UInt8(31)))!
        let nonce = Array(UInt8(0)...UInt8(23))
        let ad = Array("mac1mac1mac1mac1".utf8)
        var text = Array(UInt8(0)...UInt8(15)) + [UInt8](repeating: 0, count: 16)
        nonce.withUnsafeBytes { n in ad.withUnsafeBytes { a in text.withUnsafeMutableBytes {
            XChaCha20Poly1305.seal(key: key, nonce: n, text: $0.baseAddress!, length: 16, additionalData: a)
        } } }
        #expect(hexString(text) == "9ec30d7c94d78ba93b4d2cc5c75fa6e7f2dac918d2e948bcabd58795109bed6a")
        var plain = [UInt8](repeating: 0, count: 16)
        let ok = nonce.withUnsafeBytes { n in ad.withUnsafeBytes { a in text.withUnsafeBytes { c in plain.withUnsafeMutableBytes {
            XChaCha20Poly1305.open(key: key, nonce: n, ciphertext: c.baseAddress!, length: 16, additionalData: a, output: $0.baseAddress!)
        } } } }
        #expect(ok && plain == Array(UInt8(0)...UInt8(15)))
    }
}

@Suite struct TimestampAndKeyTextTests {
    @Test func tai64nIsBigEndianSecondsPlusTwoToThe62AndTenThenNanoseconds() {
        let stamp = TAI64N(unixSeconds: 1_700_000_000, nanoseconds: 0x0300_0000)
        var bytes = [UInt8](repeating: 0, count: 12)
        bytes.withUnsafeMutableBytes { stamp.write(to: $0) }
        #expect(hexString(bytes) == "400000006553f10a" + "03000000")
        #expect(bytes.withUnsafeBytes { TAI64N(bytes: $0) } == stamp)
    }

    @Test func tai64nWhitensNanosecondsTo2To24() {
        #expect(TAI64N(unixSeconds: 5, nanoseconds: 0x01FF_FFFF).nanoseconds == 0x0100_0000)
        #expect(TAI64N(unixSeconds: 5, nanoseconds: 999).nanoseconds == 0)
    }

    @Test func tai64nOrdersBySecondsThenNanoseconds() {
        #expect(TAI64N(seconds: 1, nanoseconds: 900) < TAI64N(seconds: 2, nanoseconds: 0))
        #expect(TAI64N(seconds: 2, nanoseconds: 0) < TAI64N(seconds: 2, nanoseconds: 1))
    }

    @Test func keysRoundTripThroughBase64LikeWgGenkey() {
        let key = PrivateKey()
        let parsed = PrivateKey(base64: key.base64)
        #expect(parsed?.publicKey == key.publicKey)
        #expect(PublicKey(base64: key.publicKey.description) == key.publicKey)
        #expect(PublicKey(base64: "not base64!") == nil)
        #expect(PublicKey(base64: "AAAA") == nil)
    }

    @Test func constantTimeEqualityDistinguishesKeys() {
        let a = key32(String(repeating: "11", count: 32))
        var b = a
        #expect(a.constantTimeEquals(b))
        b.withUnsafeMutableBytes { $0[31] ^= 1 }
        #expect(!a.constantTimeEquals(b))
        b.wipe()
        #expect(b.isZero)
    }
}
