import CSodium
import Testing
import Wire
@testable import WireGuard

/// ``GatherSeal`` against libsodium's contiguous ChaCha20-Poly1305 (RFC 8439 §2.8): the same
/// ciphertext and tag whatever the gather list looks like, and a peer's device opens the result.
@Suite struct GatherSealTests {
    /// A deterministic source of lengths, split points and bytes (SplitMix64).
    struct Seeded {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
        mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) } }
    }

    /// libsodium's one-shot combined encryption (ciphertext ‖ tag) of `plaintext`, empty additional
    /// data, WireGuard's nonce for `counter`.
    static func reference(_ plaintext: [UInt8], key: [UInt8], counter: UInt64) -> [UInt8] {
        #expect(Sodium.initialized)
        var nonce = ChaCha20Poly1305.nonce(counter)
        var output = [UInt8](repeating: 0, count: plaintext.count + 16)
        var outputLength: UInt64 = 0
        withUnsafeBytes(of: &nonce) { nonceBytes in
            _ = crypto_aead_chacha20poly1305_ietf_encrypt(
                &output, &outputLength, plaintext, UInt64(plaintext.count), nil, 0, nil,
                nonceBytes.baseAddress!.assumingMemoryBound(to: UInt8.self), key)
        }
        #expect(Int(outputLength) == plaintext.count + 16)
        return output
    }

    /// Seals `plaintext` with its bytes in `spans` (offset, count; in order) read from a separate
    /// copy, the rest in place; returns ciphertext ‖ tag and whether the separate copy stayed intact.
    static func gatherSealed(
        _ plaintext: [UInt8], spans: [(offset: Int, count: Int)], key: [UInt8], counter: UInt64
    ) -> (sealed: [UInt8], sourceUntouched: Bool) {
        // The destination holds only the in-place bytes; span bytes there are garbage the seal must
        // overwrite, so a span that was not read from its source shows up as a mismatch.
        var destination = plaintext + [UInt8](repeating: 0xEE, count: 16)
        for span in spans { for i in span.offset..<(span.offset + span.count) { destination[i] = 0xA5 ^ UInt8(truncatingIfNeeded: i) } }
        let source = plaintext
        var sourceCopy = source
        destination.withUnsafeMutableBytes { output in
            sourceCopy.withUnsafeMutableBytes { input in
                var runs = GatherList()
                for span in spans {
                    let accepted = runs.append(UnsafeRawBufferPointer(rebasing: input[span.offset..<(span.offset + span.count)]), at: span.offset)
                    #expect(accepted)
                }
                let seal = GatherSeal(destination: output.baseAddress!, length: plaintext.count, plaintext: runs)
                key.withUnsafeBytes { seal.seal(key: $0.baseAddress!, counter: counter) }
            }
        }
        return (destination, sourceCopy == source)
    }

    /// Up to three ordered, non-overlapping spans at random places, of random lengths (often empty
    /// gaps, spans touching, spans reaching either end).
    static func randomSpans(length: Int, using random: inout Seeded) -> [(offset: Int, count: Int)] {
        guard length > 0 else { return [] }
        let cuts = (0..<(2 * (1 + random.below(GatherList.capacity)))).map { _ -> Int in
            switch random.below(8) {
            case 0: return 0
            case 1: return length
            case 2: return min(length, random.below(length / 64 + 1) * 64)  // on a block boundary
            default: return random.below(length + 1)
            }
        }.sorted()
        var spans: [(offset: Int, count: Int)] = []
        for pair in stride(from: 0, to: cuts.count, by: 2) where cuts[pair + 1] > cuts[pair] {
            spans.append((cuts[pair], cuts[pair + 1] - cuts[pair]))
        }
        return spans
    }

    @Test func matchesLibsodiumForThousandsOfSeededLengthsAndSplitPoints() {
        var random = Seeded(state: 0x5EA1_6A7E)
        var cases = 0
        var spansSeen = [0, 0, 0, 0]
        for round in 0..<4000 {
            // Mostly packet sizes, some up to WireGuard's largest message, some tiny.
            let length = switch round % 4 {
            case 0: random.below(80)
            case 3: random.below(65_536 - 32)
            default: random.below(1500)
            }
            let plaintext = random.bytes(length)
            let key = random.bytes(32)
            let counter = random.next() >> UInt64(random.below(64))
            // Every tenth message gathers nothing (the in-place seal of the whole plaintext).
            let spans = round % 10 == 0 ? [] : Self.randomSpans(length: length, using: &random)
            spansSeen[spans.count] += 1
            let (sealed, untouched) = Self.gatherSealed(plaintext, spans: spans, key: key, counter: counter)
            let expected = Self.reference(plaintext, key: key, counter: counter)
            #expect(sealed == expected, "length \(length), spans \(spans), counter \(counter)")
            #expect(untouched, "the seal wrote into a span's source")
            cases += 1
        }
        #expect(cases == 4000)
        // Every gather-list shape was exercised.
        #expect(spansSeen.allSatisfy { $0 > 100 }, "\(spansSeen)")
    }

    /// Spans on and next to every block boundary of a 1420-byte packet (the keystream offsets where a
    /// run must switch between the destination and a span).
    @Test func matchesLibsodiumAtEveryBlockBoundaryOfAPacket() {
        var random = Seeded(state: 1420)
        let plaintext = random.bytes(1424)
        let key = random.bytes(32)
        let expected = Self.reference(plaintext, key: key, counter: 7)
        for boundary in stride(from: 0, through: 1424, by: 64) {
            for start in [boundary - 1, boundary, boundary + 1] where start >= 0 && start < 1424 {
                for end in [start + 1, start + 63, start + 64, start + 65, 1368, 1424] where end > start && end <= 1424 {
                    let (sealed, _) = Self.gatherSealed(plaintext, spans: [(start, end - start)], key: key, counter: 7)
                    #expect(sealed == expected, "span \(start)..<\(end)")
                }
            }
        }
    }

    @Test func anEmptyMessageSealsToLibsodiumsTag() {
        let key = [UInt8](repeating: 0x42, count: 32)
        let (sealed, _) = Self.gatherSealed([], spans: [], key: key, counter: 0)
        #expect(sealed == Self.reference([], key: key, counter: 0))
    }

    /// A transport message whose inner packet's header is framed in the send buffer and whose payload
    /// is gathered from elsewhere: the peer's device authenticates it and delivers the packet intact.
    @Test func thePeerOpensGatherSealedTransportMessages() throws {
        let network = SimulatedNetwork()
        let a = network.addHost(1)
        let b = network.addHost(2)
        try network.pair(a, b)
        try a.device.initiateHandshake(with: b.publicKey, now: network.now)
        network.run()
        let keypair = try #require(a.device.peers[b.publicKey]?.keypairs.current)
        var random = Seeded(state: 0xB0B)
        var sent: [[UInt8]] = []
        for _ in 0..<200 {
            let payload = random.bytes(1 + random.below(1400))
            let inner = ipv4Packet(source: a.tunnelAddress, destination: b.tunnelAddress, payload: payload)
            // The payload lives in a "send buffer" split in two at a random point, as across a chunk
            // boundary; only the 20-byte header is in the datagram buffer.
            let split = random.below(payload.count + 1)
            let first = Array(payload[..<split])
            let second = Array(payload[split...])
            var buffer = [UInt8](repeating: 0, count: 16 + inner.count + WireGuardDevice.sendTailroom)
            buffer.replaceSubrange(16..<36, with: inner[0..<20])
            let length = try buffer.withUnsafeMutableBytes { region in
                let (job, length) = try #require(a.device.frame(region, payloadLength: inner.count, keypair: keypair))
                first.withUnsafeBytes { firstBytes in
                    second.withUnsafeBytes { secondBytes in
                        var runs = GatherList()
                        let added = runs.append(firstBytes, at: 20) && runs.append(secondBytes, at: 20 + split)
                        #expect(added)
                        let seal = GatherSeal(destination: region.baseAddress! + 16, length: job.length, plaintext: runs)
                        job.key.withUnsafeBytes { seal.seal(key: $0.baseAddress!, counter: job.counter) }
                    }
                }
                return length
            }
            network.deliver(SimulatedDatagram(from: a.endpoint, to: b.endpoint, bytes: Array(buffer[0..<length])))
            sent.append(inner)
        }
        #expect(b.delivered == sent)
        #expect(b.drops.isEmpty, "\(b.drops)")
    }

    /// Sends `inner` through `host`'s device with its payload (after the 20-byte IPv4 header) gathered
    /// from `source`, which is overwritten right after the call; returns the result.
    static func sendGathered(_ inner: [UInt8], from host: SimulatedHost, network: SimulatedNetwork, runOffset: Int = 20) -> SendResult {
        var buffer = [UInt8](repeating: 0, count: 16 + inner.count + WireGuardDevice.sendTailroom)
        buffer.replaceSubrange(16..<(16 + runOffset), with: inner[0..<runOffset])
        var source = Array(inner[runOffset...])
        let result = buffer.withUnsafeMutableBytes { region in
            source.withUnsafeBytes { payload in
                var runs = GatherList()
                _ = runs.append(payload, at: runOffset)
                return host.device.send(region, packetLength: inner.count, gathering: runs, now: network.now)
            }
        }
        for i in source.indices { source[i] = 0xEE }  // the runs' memory is reused after the call
        if case .datagram(let to, let length) = result {
            network.transmit(SimulatedDatagram(from: host.endpoint, to: to, bytes: Array(buffer[0..<length])))
        }
        return result
    }

    /// `WireGuardDevice.send(_:packetLength:gathering:now:)`: with a session the payload is sealed
    /// from where it lies; without one the packet is staged whole (the runs are not kept), and goes
    /// out once the handshake completes; runs over the IP header are refused.
    @Test func theDeviceSealsGatheredPayloadsAndStagesThemWhole() throws {
        let network = SimulatedNetwork()
        let a = network.addHost(1)
        let b = network.addHost(2)
        try network.pair(a, b)
        let payload = (0..<1300).map { UInt8(truncatingIfNeeded: $0 &* 5 &+ 1) }
        let inner = ipv4Packet(source: a.tunnelAddress, destination: b.tunnelAddress, payload: payload)

        #expect(Self.sendGathered(inner, from: a, network: network) == .queued)
        network.run()
        #expect(b.delivered == [inner], "the staged packet was made whole before its runs were reused")

        guard case .datagram = Self.sendGathered(inner, from: a, network: network) else {
            Issue.record("no datagram with a session")
            return
        }
        network.run()
        #expect(b.delivered == [inner, inner])

        #expect(Self.sendGathered(inner, from: a, network: network, runOffset: 12) == .dropped(.invalidOutgoingPacket))
    }
}
