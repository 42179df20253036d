import Glibc
import Locking
import Wire

/// Resolves a relay's host name on a short-lived thread of its own, so the loop that owns the
/// relay connections never blocks in `getaddrinfo`. The owner polls ``result``.
final class HostResolver: Sendable {
    enum Outcome: Sendable {
        case pending
        case resolved([IPAddress])
        case failed(String)
    }

    private let state = Lock<Outcome>(.pending)

    init(host: String) {
        let box = Unmanaged.passRetained(Job(host: host, resolver: self)).toOpaque()
        var thread = pthread_t()
        let started = pthread_create(&thread, nil, { context in
            let job = Unmanaged<Job>.fromOpaque(context!).takeRetainedValue()
            job.resolver.state.withLock { $0 = HostResolver.lookup(job.host) }
            return nil
        }, box)
        if started == 0 {
            pthread_detach(thread)
        } else {
            Unmanaged<Job>.fromOpaque(box).release()
            state.withLock { $0 = .failed("could not start a resolver thread (error \(started))") }
        }
    }

    var result: Outcome { state.withLock { $0 } }

    private final class Job {
        let host: String
        let resolver: HostResolver
        init(host: String, resolver: HostResolver) {
            self.host = host
            self.resolver = resolver
        }
    }

    private static func lookup(_ host: String) -> Outcome {
        var hints = addrinfo()
        hints.ai_socktype = CInt(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0 else { return .failed("resolve \(host): \(String(cString: gai_strerror(status)))") }
        defer { freeaddrinfo(list) }
        var addresses: [IPAddress] = []
        var entry = list
        while let info = entry?.pointee {
            if info.ai_family == AF_INET, let sa = info.ai_addr {
                let v4 = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr }
                addresses.append(.v4(IPv4Address(rawValue: UInt32(bigEndian: v4))))
            } else if info.ai_family == AF_INET6, let sa = info.ai_addr {
                var raw = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                let (high, low) = withUnsafeBytes(of: &raw) {
                    (UInt64(bigEndian: $0.loadUnaligned(as: UInt64.self)), UInt64(bigEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
                }
                addresses.append(.v6(IPv6Address(high: high, low: low)))
            }
            entry = info.ai_next
        }
        return addresses.isEmpty ? .failed("resolve \(host): no addresses") : .resolved(addresses)
    }
}
