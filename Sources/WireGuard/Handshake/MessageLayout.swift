/// WireGuard message types: the first byte of every datagram, followed by three zero bytes
/// (WireGuard paper §5.4.2–§5.4.7; read as a little-endian u32 by wireguard-go).
public enum MessageType: UInt32, Sendable {
    case handshakeInitiation = 1
    case handshakeResponse = 2
    case cookieReply = 3
    case transportData = 4
}

/// Byte layout of a handshake initiation, 148 bytes (paper §5.4.2):
/// type(4) sender(4) ephemeral(32) static(32+16) timestamp(12+16) mac1(16) mac2(16).
public enum HandshakeInitiationLayout {
    public static let size = 148
    static let sender = 4
    static let ephemeral = 8
    static let encryptedStatic = 40
    static let encryptedStaticLength = 32 + 16
    static let encryptedTimestamp = 88
    static let encryptedTimestampLength = 12 + 16
    static let mac1 = 116
    static let mac2 = 132
}

/// Byte layout of a handshake response, 92 bytes (paper §5.4.3):
/// type(4) sender(4) receiver(4) ephemeral(32) empty(0+16) mac1(16) mac2(16).
public enum HandshakeResponseLayout {
    public static let size = 92
    static let sender = 4
    static let receiver = 8
    static let ephemeral = 12
    static let encryptedNothing = 44
    static let encryptedNothingLength = 16
    static let mac1 = 60
    static let mac2 = 76
}

/// Byte layout of a cookie reply, 64 bytes (paper §5.4.7):
/// type(4) receiver(4) nonce(24) cookie(16+16).
public enum CookieReplyLayout {
    public static let size = 64
    static let receiver = 4
    static let nonce = 8
    static let encryptedCookie = 32
    static let encryptedCookieLength = 16 + 16
}

/// Byte layout of a transport data message (paper §5.4.6):
/// type(4) receiver(4) counter(8, little-endian) then the encrypted, padded packet and a 16-byte tag.
public enum TransportDataLayout {
    /// Bytes before the encrypted payload: the headroom a caller leaves in front of a plaintext packet.
    public static let headerSize = 16
    static let receiver = 4
    static let counter = 8
    /// Header plus tag: the size of a keepalive (an empty payload).
    public static let minimumSize = 32
}

/// Both MACs are 16 bytes at the end of a handshake message (paper §5.4.4).
enum MACLayout {
    static let size = 16
}

extension UnsafeRawBufferPointer {
    @inline(__always)
    func littleEndianUInt32(at offset: Int) -> UInt32 {
        UInt32(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inline(__always)
    func littleEndianUInt64(at offset: Int) -> UInt64 {
        UInt64(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    @inline(__always)
    func range(_ start: Int, count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: self[start..<(start + count)])
    }
}

extension UnsafeMutableRawBufferPointer {
    @inline(__always)
    func storeLittleEndian(_ value: UInt32, at offset: Int) {
        storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt32.self)
    }

    @inline(__always)
    func storeLittleEndian(_ value: UInt64, at offset: Int) {
        storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt64.self)
    }

    @inline(__always)
    func range(_ start: Int, count: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: self[start..<(start + count)])
    }

    @inline(__always)
    func store(_ key: Key32, at offset: Int) {
        key.withUnsafeBytes { (baseAddress! + offset).copyMemory(from: $0.baseAddress!, byteCount: 32) }
    }
}
