import Relay
import Testing
import WireGuard

/// Feeds `bytes` to `reader` in chunks of `chunk` bytes and collects every frame as (type, payload).
func frames(_ bytes: [UInt8], chunk: Int, reader: DERPFrameReader = DERPFrameReader()) throws -> [(UInt8, [UInt8])] {
    var out: [(UInt8, [UInt8])] = []
    var offset = 0
    while offset < bytes.count {
        let space = reader.writableSpace()
        let count = min(chunk, bytes.count - offset, space.count)
        space.copyBytes(from: bytes[offset..<(offset + count)])
        reader.didWrite(count)
        offset += count
        while let frame = try reader.nextFrame() { out.append((frame.type.rawValue, Array(frame.payload))) }
    }
    return out
}

func frame(_ type: UInt8, _ payload: [UInt8]) -> [UInt8] {
    let n = UInt32(payload.count)
    return [type, UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + payload
}

@Suite("DERP frame reader")
struct DERPFrameReaderTests {
    @Test("frames split at every possible read boundary come out whole and in order", arguments: [1, 2, 5, 7, 64, 70_000])
    func splitsAnywhere(chunk: Int) throws {
        let stream = frame(0x06, []) + frame(0x05, Array(repeating: 0xAB, count: 32 + 1400)) + frame(0x12, [1, 2, 3, 4, 5, 6, 7, 8])
        let out = try frames(stream, chunk: chunk)
        #expect(out.map(\.0) == [0x06, 0x05, 0x12])
        #expect(out[1].1.count == 1432)
        #expect(out[2].1 == [1, 2, 3, 4, 5, 6, 7, 8])
    }

    @Test("a maximal packet frame (32-byte key + 64 KiB) fits after many small frames")
    func maximalPacketFits() throws {
        var stream: [UInt8] = []
        for _ in 0..<1000 { stream += frame(0x06, []) }
        stream += frame(0x05, Array(repeating: 1, count: 32 + 65536))
        stream += frame(0x06, [])
        let out = try frames(stream, chunk: 16384)
        #expect(out.count == 1002)
        #expect(out[1000].1.count == 65568)
    }

    @Test("an unknown frame larger than the buffer streams past and is counted; the next frame still parses")
    func skipsOversizedUnknownFrames() throws {
        let reader = DERPFrameReader()
        let stream = frame(0x7F, Array(repeating: 0, count: 200_000)) + frame(0x14, Array("ok".utf8))
        let out = try frames(stream, chunk: 4096, reader: reader)
        #expect(out.map(\.0) == [0x14])
        #expect(reader.oversizedFramesSkipped == 1)
    }

    @Test("a packet frame over 64 KiB + key is a protocol error")
    func rejectsOversizedPacket() {
        let header: [UInt8] = [0x05, 0x00, 0x01, 0x00, 0x21]  // 65569 bytes
        #expect(throws: DERPError.frameTooLong(type: .receivePacket, length: 65569, limit: 65568)) {
            _ = try frames(header, chunk: 5)
        }
    }

    @Test("any frame over 1 MiB is rejected before a byte of it is buffered")
    func rejectsHugeFrames() {
        #expect(throws: DERPError.frameTooLong(type: DERPFrameType(rawValue: 0x7F), length: 0xFFFF_FFFF, limit: 1 << 20)) {
            _ = try frames([0x7F, 0xFF, 0xFF, 0xFF, 0xFF], chunk: 5)
        }
    }
}

@Suite("DERP frames")
struct DERPFrameTests {
    @Test("a send-packet header is type 4, length key+packet, then the destination key")
    func sendPacketHeader() {
        let key = PublicKey(Key32(bytes: Array(repeating: 0x11, count: 32))!)
        var buffer = [UInt8](repeating: 0, count: 37)
        buffer.withUnsafeMutableBytes { DERPFrameWriter.writeSendPacketHeader(to: key, packetLength: 148, into: $0) }
        #expect(buffer[0..<5] == [0x04, 0, 0, 0, 180])
        #expect(Array(buffer[5...]) == Array(repeating: 0x11, count: 32))
        #expect(DERPFrameWriter.sendPacket(to: key, [9]) == buffer[0..<4] + [33] + buffer[5...] + [9])
    }

    @Test("ping and pong carry 8 bytes; note-preferred one")
    func controlFrames() {
        #expect(DERPFrameWriter.ping(0x0102_0304_0506_0708) == [0x12, 0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8])
        #expect(DERPFrameWriter.pong(0x0102_0304_0506_0708) == [0x13, 0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8])
        #expect(DERPFrameWriter.notePreferred(true) == [0x07, 0, 0, 0, 1, 1])
    }

    @Test("peer-gone without a reason byte means disconnected; with 1 means not here")
    func peerGone() throws {
        let key = Array(repeating: UInt8(0x22), count: 32)
        for (payload, expected) in [(key, DERPPeerGoneReason.disconnected), (key + [1], .notHere)] {
            let message = try payload.withUnsafeBytes { try DERPServerMessage(parsing: DERPFrame(type: .peerGone, payload: $0)) }
            guard case let .peerGone(peer, reason) = message else { Issue.record("not peer-gone"); continue }
            #expect(peer.key.bytes == key)
            #expect(reason == expected)
        }
    }

    @Test("restarting carries two millisecond counts")
    func restarting() throws {
        let payload: [UInt8] = [0, 0, 0x03, 0xE8, 0, 0, 0x27, 0x10]
        let message = try payload.withUnsafeBytes { try DERPServerMessage(parsing: DERPFrame(type: .restarting, payload: $0)) }
        guard case let .restarting(reconnectIn, tryFor) = message else { Issue.record("not restarting"); return }
        #expect(reconnectIn == .seconds(1))
        #expect(tryFor == .seconds(10))
    }

    @Test("known frames shorter than their fields are errors, unknown types are ignored")
    func shortAndUnknown() throws {
        #expect(throws: DERPError.frameTooShort(type: .receivePacket, length: 31, minimum: 32)) {
            _ = try [UInt8](repeating: 0, count: 31).withUnsafeBytes { try DERPServerMessage(parsing: DERPFrame(type: .receivePacket, payload: $0)) }
        }
        #expect(throws: DERPError.badServerKey) {
            _ = try [UInt8](repeating: 0, count: 40).withUnsafeBytes { try DERPServerMessage(parsing: DERPFrame(type: .serverKey, payload: $0)) }
        }
        let message = try [UInt8]().withUnsafeBytes { try DERPServerMessage(parsing: DERPFrame(type: DERPFrameType(rawValue: 0x42), payload: $0)) }
        guard case .ignored(let type) = message else { Issue.record("not ignored"); return }
        #expect(type.rawValue == 0x42)
    }
}
