import CWireNetShims
#if canImport(Glibc)
import Glibc
#endif
import WireNet

/// An address of the host's own network, as the kernel's socket calls take it: IPv4, IPv6 (with
/// port) or a unix-domain path.
///
/// Stored as the raw `sockaddr_in` / `sockaddr_in6` / `sockaddr_un` bytes, so it is `Hashable` (UDP
/// flows are keyed by it) and can be handed to `bind`, `connect` and `sendto` as is.
public struct SocketAddress: Hashable, Sendable, CustomStringConvertible {
    /// The `sockaddr` bytes, exactly as long as the family's structure (the path's length for unix).
    private let bytes: [UInt8]

    /// The address family (`AF_INET`, `AF_INET6` or `AF_UNIX`).
    public let family: Int32

    /// Copies `length` bytes of a `sockaddr` the kernel filled in (`accept`, `recvfrom`, `getsockname`).
    init?(_ address: UnsafeRawPointer, length: socklen_t) {
        guard Int(length) >= MemoryLayout<sa_family_t>.size else { return nil }
        let family = Int32(address.loadUnaligned(as: sa_family_t.self))
        let expected: Int
        switch family {
        case AF_INET: expected = MemoryLayout<sockaddr_in>.size
        case AF_INET6: expected = MemoryLayout<sockaddr_in6>.size
        case AF_UNIX: expected = Int(length)
        default: return nil
        }
        guard Int(length) >= expected else { return nil }
        self.family = family
        bytes = Array(UnsafeRawBufferPointer(start: address, count: expected))
    }

    /// A unix-domain socket path; nil when the path does not fit `sun_path` (108 bytes with the NUL).
    public init?(unixPath path: String) {
        var address = sockaddr_un()
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        let utf8 = Array(path.utf8)
        guard !utf8.isEmpty, utf8.count < capacity, !utf8.contains(0) else { return nil }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: utf8)
            raw[utf8.count] = 0
        }
        let length = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)! + utf8.count + 1
        family = AF_UNIX
        bytes = withUnsafeBytes(of: &address) { Array($0.prefix(length)) }
    }

    /// What turns a host and port into an address; ``systemLookup(host:port:datagram:numericOnly:)``
    /// unless a test replaces it.
    typealias Lookup = @Sendable (_ host: String, _ port: UInt16, _ datagram: Bool) -> Result<SocketAddress, ResolutionError>

    /// Resolves `host` (an IP literal or a name) and `port` with the system resolver, once.
    ///
    /// A literal is converted at once; a name is looked up with `getaddrinfo`, which blocks for as
    /// long as DNS takes, so the lookup runs on the node library's resolver queue
    /// (`PeerEndpointResolver.offPool`), never on the cooperative pool, and the task suspends
    /// meanwhile. An IPv4 answer is preferred, as `wg` does for endpoints: `localhost` usually has
    /// both 127.0.0.1 and ::1, and local services more often listen on the former.
    public static func resolve(host: String, port: UInt16, datagram: Bool = false) async throws(ResolutionError) -> SocketAddress {
        try await resolve(host: host, port: port, datagram: datagram, lookup: { host, port, datagram in
            systemLookup(host: host, port: port, datagram: datagram, numericOnly: false)
        })
    }

    /// ``resolve(host:port:datagram:)`` with the lookup a test supplies.
    static func resolve(host: String, port: UInt16, datagram: Bool, lookup: @escaping Lookup) async throws(ResolutionError) -> SocketAddress {
        if case .success(let literal) = systemLookup(host: host, port: port, datagram: datagram, numericOnly: true) {
            return literal
        }
        return try await PeerEndpointResolver.offPool { lookup(host, port, datagram) }.get()
    }

    /// The address an IP literal (`127.0.0.1`, `::`, `[::1]`) and `port` name, without any lookup:
    /// `getaddrinfo` with `AI_NUMERICHOST`, which never asks DNS.
    ///
    /// - Throws: ``ResolutionError`` when `host` is not an IP literal.
    public init(numericHost host: String, port: UInt16, datagram: Bool = false) throws(ResolutionError) {
        self = try Self.systemLookup(host: host, port: port, datagram: datagram, numericOnly: true).get()
    }

    /// `getaddrinfo` for `host` and `port`: the first IPv4 answer, else the first IPv6 one. With
    /// `numericOnly`, only an IP literal is accepted (no DNS, it does not block).
    static func systemLookup(host: String, port: UInt16, datagram: Bool, numericOnly: Bool) -> Result<SocketAddress, ResolutionError> {
        var hints = addrinfo()
        hints.ai_socktype = Int32(datagram ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV | (numericOnly ? AI_NUMERICHOST : 0)
        // Brackets are command-line syntax for IPv6, not part of the address.
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(name, String(port), &hints, &list)
        guard status == 0, let first = list else {
            return .failure(ResolutionError(host: host, reason: String(cString: gai_strerror(status))))
        }
        defer { freeaddrinfo(list) }
        var ipv6: SocketAddress?
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            if let address = current.pointee.ai_addr,
               let resolved = SocketAddress(UnsafeRawPointer(address), length: current.pointee.ai_addrlen) {
                if resolved.family == AF_INET { return .success(resolved) }
                if ipv6 == nil { ipv6 = resolved }
            }
            entry = current.pointee.ai_next
        }
        guard let ipv6 else { return .failure(ResolutionError(host: host, reason: "no IPv4 or IPv6 address")) }
        return .success(ipv6)
    }

    /// The byte length to pass with the pointer.
    var length: socklen_t { socklen_t(bytes.count) }

    /// Calls `body` with the address as a `sockaddr` pointer and its length.
    func withSockaddr<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> Result) rethrows -> Result {
        try bytes.withUnsafeBytes { raw in
            try body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
        }
    }

    /// The port of an IPv4 or IPv6 address; 0 for a unix path.
    public var port: UInt16 {
        bytes.withUnsafeBytes { raw in
            switch family {
            case AF_INET: return UInt16(bigEndian: raw.loadUnaligned(fromByteOffset: MemoryLayout<sockaddr_in>.offset(of: \sockaddr_in.sin_port)!, as: UInt16.self))
            case AF_INET6: return UInt16(bigEndian: raw.loadUnaligned(fromByteOffset: MemoryLayout<sockaddr_in6>.offset(of: \sockaddr_in6.sin6_port)!, as: UInt16.self))
            default: return 0
            }
        }
    }

    /// The same address with port 0 (and no IPv6 flow label): the host, as forwarding limits count
    /// senders.
    var withoutPort: SocketAddress {
        var copy = bytes
        switch family {
        case AF_INET:
            let port = MemoryLayout<sockaddr_in>.offset(of: \sockaddr_in.sin_port)!
            copy.replaceSubrange(port..<port + 2, with: [0, 0])
        case AF_INET6:
            let port = MemoryLayout<sockaddr_in6>.offset(of: \sockaddr_in6.sin6_port)!
            let flow = MemoryLayout<sockaddr_in6>.offset(of: \sockaddr_in6.sin6_flowinfo)!
            copy.replaceSubrange(port..<port + 2, with: [0, 0])
            copy.replaceSubrange(flow..<flow + 4, with: [0, 0, 0, 0])
        default:
            return self
        }
        return copy.withUnsafeBytes { SocketAddress($0.baseAddress!, length: socklen_t($0.count)) } ?? self
    }

    /// `127.0.0.1:5201`, `[::1]:5201`, or the unix path.
    public var description: String {
        bytes.withUnsafeBytes { raw -> String in
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
            switch family {
            case AF_INET:
                let offset = MemoryLayout<sockaddr_in>.offset(of: \sockaddr_in.sin_addr)!
                inet_ntop(AF_INET, raw.baseAddress! + offset, &text, socklen_t(text.count))
                return "\(cText(text)):\(port)"
            case AF_INET6:
                let offset = MemoryLayout<sockaddr_in6>.offset(of: \sockaddr_in6.sin6_addr)!
                inet_ntop(AF_INET6, raw.baseAddress! + offset, &text, socklen_t(text.count))
                return "[\(cText(text))]:\(port)"
            default:
                let offset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)!
                let path = raw[offset...].prefix { $0 != 0 }
                return String(decoding: path, as: UTF8.self)
            }
        }
    }
}

/// A host name or address that the system resolver could not turn into an address.
public struct ResolutionError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The host as given.
    public var host: String
    /// The resolver's explanation (`gai_strerror`).
    public var reason: String
    public var description: String { "cannot resolve \(host): \(reason)" }
}

/// The text of a NUL-terminated C buffer.
private func cText(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
