import WireGuard

// Big-endian field access for the relay's formats. Callers check lengths first (as Wire's views do;
// Wire's helpers are internal to it). Keys are copied out of buffers into `PublicKey` values.

extension UnsafeRawBufferPointer {
    @inline(__always)
    func bigEndianUInt16(at offset: Int) -> UInt16 {
        UInt16(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inline(__always)
    func bigEndianUInt32(at offset: Int) -> UInt32 {
        UInt32(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inline(__always)
    func bigEndianUInt64(at offset: Int) -> UInt64 {
        UInt64(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// The 32 bytes at `offset` as a public key.
    @inline(__always)
    func publicKey(at offset: Int) -> PublicKey {
        PublicKey(Key32(copying: UnsafeRawBufferPointer(rebasing: self[offset..<(offset + 32)])))
    }

    /// `self[start..<end]` as its own buffer.
    @inline(__always)
    func slice(_ start: Int, _ end: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: self[start..<end])
    }

    /// True when the buffer starts with `prefix`.
    func hasPrefix(_ prefix: [UInt8]) -> Bool {
        guard count >= prefix.count else { return false }
        for (index, byte) in prefix.enumerated() where self[index] != byte { return false }
        return true
    }
}

extension UnsafeMutableRawBufferPointer {
    @inline(__always)
    func storeBigEndian(_ value: UInt16, at offset: Int) {
        storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt16.self)
    }

    @inline(__always)
    func storeBigEndian(_ value: UInt32, at offset: Int) {
        storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt32.self)
    }

    @inline(__always)
    func storeBigEndian(_ value: UInt64, at offset: Int) {
        storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt64.self)
    }

    /// Copies the key's 32 bytes to `offset`.
    @inline(__always)
    func store(_ key: PublicKey, at offset: Int) {
        key.key.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: self[offset..<(offset + 32)]).copyMemory(from: $0) }
    }
}

extension Array where Element == UInt8 {
    /// Appends a big-endian 32-bit value.
    mutating func appendBigEndian(_ value: UInt32) {
        append(UInt8(value >> 24)); append(UInt8(value >> 16 & 0xFF))
        append(UInt8(value >> 8 & 0xFF)); append(UInt8(value & 0xFF))
    }

    /// Appends the key's 32 bytes.
    mutating func append(_ key: PublicKey) {
        key.key.withUnsafeBytes { append(contentsOf: $0) }
    }
}
