import Relay
import WireGuard
import Wire

/// Fixed keys: a relay and a client that have completed the handshake, so the fuzzed stream reaches
/// the established session as well as a fresh one.
let relayKey = PrivateKey(Key32(bytes: [UInt8](repeating: 3, count: 32))!)
let clientKey = PrivateKey(Key32(bytes: [UInt8](repeating: 5, count: 32))!)

func encoded(_ type: DERPFrameType, _ payload: [UInt8]) -> [UInt8] {
    let n = UInt32(payload.count)
    return [type.rawValue, UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + payload
}

func feed(_ bytes: [UInt8], to session: inout DERPClientSession) {
    let type = DERPFrameType(rawValue: bytes[0])
    _ = Array(bytes[5...]).withUnsafeBytes { try? session.receive(DERPFrame(type: type, payload: $0), now: .zero) }
}

func establishedSession() -> DERPClientSession {
    var session = DERPClientSession(privateKey: clientKey, preferred: true, pingSeed: 0, now: .zero)
    feed(encoded(.serverKey, DERPProtocol.magic + relayKey.publicKey.key.bytes), to: &session)
    let info = NaClBox(privateKey: relayKey, peer: clientKey.publicKey)!.seal(Array("{\"version\":2}".utf8))
    feed(encoded(.serverInfo, info), to: &session)
    precondition(session.state == .established)
    return session
}

/// The established session, built once per process and copied into every input.
///
/// Building it costs three X25519 operations (two `NaClBox`es on the client's side, one on the
/// relay's) and a box seal and open: measured as most of an input's time (perf, 2026-12-02). A
/// `DERPClientSession` is a value (its only reference, the private key, is immutable), so the copy an
/// input gets is exactly the session `establishedSession()` returns: same state, same timers (all at
/// time zero), same ping sequence. The handshake itself stays fuzzed: every input also drives a fresh
/// session, which takes the relay's key and info frames from the input.
nonisolated(unsafe) let establishedTemplate = establishedSession()

/// The DERP stream from a relay: the first byte picks the read size, the rest is the byte stream.
/// Frames must come out within the buffer's bounds and every frame must be handled by a fresh and
/// by an established session without a crash; the upgrade-response parser sees the same bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    _ = try? DERPUpgrade.parseResponse(input)
    guard size > 1 else { return 0 }
    let chunk = Int(input[0]) * 64 + 1
    let stream = input.slice(1)
    let reader = DERPFrameReader()
    var fresh = DERPClientSession(privateKey: clientKey, preferred: false, pingSeed: 0, now: .zero)
    var established = establishedTemplate
    var offset = 0
    var now = NetInstant.zero
    while offset < stream.count {
        let space = reader.writableSpace()
        precondition(!space.isEmpty)
        let count = min(chunk, stream.count - offset, space.count)
        space.copyMemory(from: stream.slice(offset, offset + count))
        reader.didWrite(count)
        offset += count
        do {
            while let frame = try reader.nextFrame() {
                precondition(frame.payload.count <= DERPProtocol.maxBufferedFrameLength)
                now = now + .milliseconds(10)
                _ = try? fresh.receive(frame, now: now)
                _ = try? established.receive(frame, now: now)
                _ = fresh.poll(now: now)
                _ = established.poll(now: now)
            }
        } catch {
            return 0  // a stream that violates framing ends the connection
        }
    }
    return 0
}

extension UnsafeRawBufferPointer {
    func slice(_ start: Int, _ end: Int? = nil) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: self[start..<(end ?? count)])
    }
}
