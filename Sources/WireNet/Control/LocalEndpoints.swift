#if canImport(Glibc)
import Glibc
#endif
import Wire
import WireGuard

/// The `address:port` pairs this node reports to control as its UDP endpoints: every address of an
/// interface that is up, with the node's UDP port. Order: global IPv4, global IPv6, then loopback
/// (peers on the same host), since peers try the first usable one. Link-local addresses are left out.
enum LocalEndpoints {
    static func list(port: UInt16) -> [IPEndpoint] {
        var head: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&head) == 0, let first = head else { return [] }
        defer { freeifaddrs(head) }
        var v4: [IPEndpoint] = [], v6: [IPEndpoint] = [], loopback: [IPEndpoint] = []
        var entry: UnsafeMutablePointer<ifaddrs>? = first
        while let current = entry {
            defer { entry = current.pointee.ifa_next }
            guard let address = current.pointee.ifa_addr, current.pointee.ifa_flags & UInt32(IFF_UP) != 0 else { continue }
            let isLoopback = current.pointee.ifa_flags & UInt32(IFF_LOOPBACK) != 0
            switch Int32(address.pointee.sa_family) {
            case AF_INET:
                let raw = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
                let endpoint = IPEndpoint(.v4(IPv4Address(rawValue: raw)), port)
                if isLoopback { loopback.append(endpoint) } else { v4.append(endpoint) }
            case AF_INET6:
                let bytes = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                let ip = withUnsafeBytes(of: bytes) { raw in
                    IPv6Address(high: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                                low: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
                }
                if ip.high >> 54 == 0x3FA { continue }  // fe80::/10, link-local (RFC 4291 §2.5.6)
                if isLoopback { continue }  // ::1: IPv4 loopback already covers same-host peers
                v6.append(IPEndpoint(.v6(ip), port))
            default:
                continue
            }
        }
        return v4 + v6 + loopback
    }
}
