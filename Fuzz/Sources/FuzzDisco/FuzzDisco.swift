import Relay
import WireGuard

let ours = PrivateKey(Key32(bytes: [UInt8](repeating: 7, count: 32))!)
let theirs = PrivateKey(Key32(bytes: [UInt8](repeating: 9, count: 32))!)
let sendingBox = NaClBox(privateKey: theirs, peer: ours.publicKey)!
let receivingBox = NaClBox(privateKey: ours, peer: theirs.publicKey)!

/// Disco: the input as a whole packet (header check, box that must not open), and as the plaintext
/// of a box sealed with a known key, so the message parser behind the box is reached. A message that
/// parses serialises to bytes that parse back to the same message.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    if let packet = try? DiscoPacket(validating: input) {
        _ = try? packet.open(with: receivingBox)
    }
    _ = DiscoProtocol.looksLikeDisco(input)

    let sealed = DiscoProtocol.magic + theirs.publicKey.key.bytes + sendingBox.seal(Array(input))
    let opened: DiscoMessage? = sealed.withUnsafeBytes { raw in
        guard let packet = try? DiscoPacket(validating: raw) else { return nil }
        precondition(packet.sender == theirs.publicKey)
        return try? packet.open(with: receivingBox)
    }
    let direct = try? DiscoMessage(parsing: input)
    precondition(opened == direct || size + DiscoProtocol.headerLength + NaClBox.tagLength > DiscoProtocol.maxPacketLength)
    if let message = direct {
        let again = message.serialized().withUnsafeBytes { try? DiscoMessage(parsing: $0) }
        precondition(again == message, "\(message) does not survive serialisation")
    }
    return 0
}
