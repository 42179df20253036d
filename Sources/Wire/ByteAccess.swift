// Big-endian field access on raw buffers. Every caller has validated the offsets beforehand
// (views check lengths once in `init(validating:)`), so these helpers do no checking of their own
// beyond the standard library's debug-mode bounds assertions.

extension UnsafeRawBufferPointer {
    @inline(__always)
    func byte(_ offset: Int) -> UInt8 {
        load(fromByteOffset: offset, as: UInt8.self)
    }

    @inline(__always)
    func bigEndianUInt16(_ offset: Int) -> UInt16 {
        UInt16(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inline(__always)
    func bigEndianUInt32(_ offset: Int) -> UInt32 {
        UInt32(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inline(__always)
    func bigEndianUInt64(_ offset: Int) -> UInt64 {
        UInt64(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    @inline(__always)
    func ipv4Address(_ offset: Int) -> IPv4Address {
        IPv4Address(rawValue: bigEndianUInt32(offset))
    }

    @inline(__always)
    func ipv6Address(_ offset: Int) -> IPv6Address {
        IPv6Address(high: bigEndianUInt64(offset), low: bigEndianUInt64(offset + 8))
    }

    /// The bytes in `range`, which the caller has checked lies within the buffer.
    @inline(__always)
    func slice(_ start: Int, _ end: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: self[start..<end])
    }

    /// The bytes from `start` to the end of the buffer.
    @inline(__always)
    func slice(from start: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: self[start...])
    }
}

extension UnsafeMutableRawBufferPointer {
    @inline(__always)
    func storeByte(_ value: UInt8, at offset: Int) {
        storeBytes(of: value, toByteOffset: offset, as: UInt8.self)
    }

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

    @inline(__always)
    func store(_ address: IPv4Address, at offset: Int) {
        storeBigEndian(address.rawValue, at: offset)
    }

    @inline(__always)
    func store(_ address: IPv6Address, at offset: Int) {
        storeBigEndian(address.high, at: offset)
        storeBigEndian(address.low, at: offset + 8)
    }

    /// Copies `source` to `offset` (`memmove` semantics, so the regions may overlap).
    @inline(__always)
    func copy(_ source: UnsafeRawBufferPointer, to offset: Int) {
        guard source.count > 0, let destination = baseAddress, let from = source.baseAddress else { return }
        (destination + offset).copyMemory(from: from, byteCount: source.count)
    }

    /// Zero-fills `count` bytes at `offset`.
    @inline(__always)
    func zero(_ offset: Int, count: Int) {
        guard count > 0, let base = baseAddress else { return }
        (base + offset).initializeMemory(as: UInt8.self, repeating: 0, count: count)
    }

    @inline(__always)
    var readOnly: UnsafeRawBufferPointer { UnsafeRawBufferPointer(self) }
}
