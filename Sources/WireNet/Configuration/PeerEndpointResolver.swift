#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Wire
import WireGuard

/// Turns a peer endpoint's host name into an address with the system resolver (`getaddrinfo`),
/// preferring IPv4 like wg(8).
///
/// `getaddrinfo` blocks for as long as DNS takes, so it never runs on Swift's cooperative pool (a
/// handful of threads, one per core, that every task of the process shares): lookups run on a
/// dispatch queue of their own and the calling task suspends meanwhile. The CLI's host-side
/// lookups (`wirenet up`'s `--serve` targets and `--forward` bind addresses) use the same queue
/// through ``offPool(_:)``.
package enum PeerEndpointResolver {
    /// What resolves one host name; the system's `getaddrinfo` unless a test replaces it.
    typealias Lookup = @Sendable (PeerEndpoint) -> Result<IPEndpoint, NodeError>

    /// The queue lookups block on, away from the cooperative pool.
    package static let queue = DispatchQueue(label: "wirenet.resolver")

    /// Runs `lookup` — a call that blocks for as long as DNS takes, such as `getaddrinfo` — on
    /// ``queue`` while the calling task suspends, and returns its result.
    package static func offPool<Value: Sendable>(_ lookup: @escaping @Sendable () -> Value) async -> Value {
        await withCheckedContinuation { (continuation: CheckedContinuation<Value, Never>) in
            queue.async { continuation.resume(returning: lookup()) }
        }
    }

    /// The endpoint `endpoint` names: at once for an IP literal, else after a lookup on ``queue``.
    static func resolve(_ endpoint: PeerEndpoint, lookup: @escaping Lookup = systemLookup) async throws(NodeError) -> IPEndpoint {
        if let literal = endpoint.literal { return literal }
        return try await offPool { lookup(endpoint) }.get()
    }

    /// `getaddrinfo` for `endpoint.host`: the first IPv4 address, else the first IPv6 address.
    @Sendable static func systemLookup(_ endpoint: PeerEndpoint) -> Result<IPEndpoint, NodeError> {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(endpoint.host, nil, &hints, &list) == 0, let first = list else {
            return .failure(.unresolvableHost(endpoint.host))
        }
        defer { freeaddrinfo(list) }
        var v6: IPEndpoint?
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            if let address = current.pointee.ai_addr {
                if current.pointee.ai_family == AF_INET {
                    let v4 = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr }
                    return .success(IPEndpoint(.v4(IPv4Address(rawValue: UInt32(bigEndian: v4))), endpoint.port))
                }
                if current.pointee.ai_family == AF_INET6, v6 == nil {
                    let bytes = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                    let address = withUnsafeBytes(of: bytes) { raw in
                        IPv6Address(high: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                                    low: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
                    }
                    v6 = IPEndpoint(.v6(address), endpoint.port)
                }
            }
            entry = current.pointee.ai_next
        }
        guard let v6 else { return .failure(.unresolvableHost(endpoint.host)) }
        return .success(v6)
    }
}

extension PeerConfiguration {
    /// WireGuard's view of a configured peer, its host-name endpoint resolved (off the cooperative
    /// pool, see ``PeerEndpointResolver``).
    init(resolving peer: NodeConfiguration.Peer) async throws(NodeError) {
        var endpoint: IPEndpoint?
        if let configured = peer.endpoint { endpoint = try await PeerEndpointResolver.resolve(configured) }
        self.init(publicKey: peer.publicKey, presharedKey: peer.presharedKey, endpoint: endpoint,
                  allowedIPs: peer.allowedIPs, persistentKeepalive: peer.persistentKeepalive)
    }
}
