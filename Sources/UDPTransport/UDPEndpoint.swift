import Glibc

/// An IPv4 or IPv6 address and a UDP port: where a datagram comes from or goes to.
///
/// The transport's socket is dual-stack (`AF_INET6` with `IPV6_V6ONLY` off), so IPv4 peers appear
/// to the kernel as IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2). ``Address``
/// stores every address as 16 bytes and treats the mapped form *as* IPv4, so an endpoint built
/// from `sockaddr_in` and one built from the mapped `sockaddr_in6` are equal.
public struct UDPEndpoint: Hashable, Sendable, CustomStringConvertible {
    /// An IPv4 or IPv6 address, IPv4 kept in its IPv4-mapped IPv6 form.
    public struct Address: Hashable, Sendable, CustomStringConvertible {
        /// The 16 bytes in network order, high half first.
        public var high: UInt64
        public var low: UInt64

        /// An address from 16 bytes in network order (IPv4-mapped bytes give an IPv4 address).
        public init(ipv6 bytes: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                                 UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)) {
            var value = bytes
            (high, low) = withUnsafeBytes(of: &value) { raw in
                (UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                 UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            }
        }

        /// An IPv4 address from its 32-bit value (host order: `0x7F000001` is 127.0.0.1).
        public init(ipv4 value: UInt32) {
            high = 0
            low = 0x0000_FFFF_0000_0000 | UInt64(value)
        }

        /// The IPv4 address `a.b.c.d`.
        public static func ipv4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> Address {
            Address(ipv4: UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d))
        }

        /// Parses dotted-quad IPv4 or RFC 5952 IPv6 text; nil when it is neither.
        public init?(_ text: String) {
            var v4 = in_addr()
            if inet_pton(AF_INET, text, &v4) == 1 {
                self.init(ipv4: UInt32(bigEndian: v4.s_addr))
                return
            }
            var v6 = in6_addr()
            if inet_pton(AF_INET6, text, &v6) == 1 {
                self.init(v6)
                return
            }
            return nil
        }

        /// `0.0.0.0`-or-`::`: the wildcard to bind to.
        public static let any = Address(ipv6: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
        /// `127.0.0.1`.
        public static let loopbackIPv4 = Address.ipv4(127, 0, 0, 1)
        /// `::1`.
        public static let loopbackIPv6 = Address(ipv6: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1))

        init(_ address: in6_addr) {
            var address = address
            (high, low) = withUnsafeBytes(of: &address) { raw in
                (UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                 UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            }
        }

        /// True for IPv4 (stored as `::ffff:a.b.c.d`).
        public var isIPv4: Bool { high == 0 && low >> 32 == 0xFFFF }

        /// The IPv4 value (host order), nil for IPv6.
        public var ipv4Value: UInt32? { isIPv4 ? UInt32(truncatingIfNeeded: low) : nil }

        /// The address as `in6_addr` (IPv4 in mapped form, as the dual-stack socket wants it).
        var in6: in6_addr {
            var result = in6_addr()
            withUnsafeMutableBytes(of: &result) { raw in
                raw.storeBytes(of: high.bigEndian, toByteOffset: 0, as: UInt64.self)
                raw.storeBytes(of: low.bigEndian, toByteOffset: 8, as: UInt64.self)
            }
            return result
        }

        /// Dotted quad for IPv4, RFC 5952 text for IPv6.
        public var description: String {
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            if let v4 = ipv4Value {
                var raw = in_addr(s_addr: v4.bigEndian)
                inet_ntop(AF_INET, &raw, &text, socklen_t(text.count))
            } else {
                var raw = in6
                inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count))
            }
            return String(decoding: text.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) },
                          as: UTF8.self)
        }
    }

    public var address: Address
    public var port: UInt16

    public init(address: Address, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// `127.0.0.1:port`.
    public static func loopbackIPv4(port: UInt16) -> UDPEndpoint { UDPEndpoint(address: .loopbackIPv4, port: port) }
    /// `[::1]:port`.
    public static func loopbackIPv6(port: UInt16) -> UDPEndpoint { UDPEndpoint(address: .loopbackIPv6, port: port) }

    /// `a.b.c.d:port` or `[v6]:port`.
    public var description: String {
        address.isIPv4 ? "\(address):\(port)" : "[\(address)]:\(port)"
    }

    /// Reads a `sockaddr_in` or `sockaddr_in6`; nil for other families or a short length.
    public init?(socketAddress: UnsafePointer<sockaddr>, length: Int) {
        switch CInt(socketAddress.pointee.sa_family) {
        case AF_INET where length >= MemoryLayout<sockaddr_in>.size:
            let v4 = UnsafeRawPointer(socketAddress).loadUnaligned(as: sockaddr_in.self)
            self.init(address: Address(ipv4: UInt32(bigEndian: v4.sin_addr.s_addr)),
                      port: UInt16(bigEndian: v4.sin_port))
        case AF_INET6 where length >= MemoryLayout<sockaddr_in6>.size:
            let v6 = UnsafeRawPointer(socketAddress).loadUnaligned(as: sockaddr_in6.self)
            self.init(address: Address(v6.sin6_addr), port: UInt16(bigEndian: v6.sin6_port))
        default:
            return nil
        }
    }

    /// Writes this endpoint for a socket of `family` into `storage`; returns the length to pass as
    /// `msg_namelen`, or nil when an IPv6 endpoint is sent through an IPv4-only socket.
    func write(to storage: UnsafeMutablePointer<sockaddr_in6>, family: CInt) -> socklen_t? {
        if family == AF_INET6 {
            var v6 = sockaddr_in6()
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = port.bigEndian
            v6.sin6_addr = address.in6
            storage.pointee = v6
            return socklen_t(MemoryLayout<sockaddr_in6>.size)
        }
        guard let v4Value = address.ipv4Value else { return nil }
        var v4 = sockaddr_in()
        v4.sin_family = sa_family_t(AF_INET)
        v4.sin_port = port.bigEndian
        v4.sin_addr = in_addr(s_addr: v4Value.bigEndian)
        UnsafeMutableRawPointer(storage).storeBytes(of: v4, as: sockaddr_in.self)
        return socklen_t(MemoryLayout<sockaddr_in>.size)
    }
}
