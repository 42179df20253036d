import WireGuard

/// A sealed disco packet in a caller-owned buffer: `magic | sender disco key | nonce | box`
/// (`disco.go`). A view; ``open(with:)`` decrypts into a new buffer.
public struct DiscoPacket {
    /// The sender's disco public key (clear text; proven only by the box opening).
    public let sender: PublicKey
    /// Nonce and box, the input of ``NaClBox/open(_:)``.
    public let sealed: UnsafeRawBufferPointer

    /// Validates the header of `bytes`.
    /// - Throws: ``DiscoError/notDisco`` without the magic or shorter than header + tag,
    ///   ``DiscoError/tooLong(_:)`` over ``DiscoProtocol/maxPacketLength``.
    public init(validating bytes: UnsafeRawBufferPointer) throws(DiscoError) {
        guard DiscoProtocol.looksLikeDisco(bytes), bytes.count >= DiscoProtocol.headerLength + NaClBox.tagLength else {
            throw .notDisco
        }
        guard bytes.count <= DiscoProtocol.maxPacketLength else { throw .tooLong(bytes.count) }
        let keyOffset = DiscoProtocol.magic.count
        sender = bytes.publicKey(at: keyOffset)
        sealed = bytes.slice(keyOffset + 32, bytes.count)
    }

    /// Opens the box with the box shared with ``sender`` and parses the message.
    /// - Throws: ``DiscoError/badBox`` when it does not verify; the message's parse errors.
    public func open(with box: NaClBox) throws(DiscoError) -> DiscoMessage {
        guard let plaintext = box.open(sealed) else { throw .badBox }
        let parsed = plaintext.withUnsafeBytes { bytes in Result { () throws(DiscoError) in try DiscoMessage(parsing: bytes) } }
        return try parsed.get()
    }

    /// Seals `message` from `sender` (this node's disco public key) with the box shared with the
    /// receiver: the whole packet, ready for UDP or a DERP send-packet frame.
    public static func seal(_ message: DiscoMessage, from sender: PublicKey, with box: NaClBox, padding: Int = 0) -> [UInt8] {
        var packet = DiscoProtocol.magic
        packet.reserveCapacity(DiscoProtocol.headerLength + NaClBox.tagLength + 64 + padding)
        packet.append(sender)
        packet.append(contentsOf: box.seal(message.serialized(padding: padding)))
        return packet
    }
}
