import CWireNetShims
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A UDP socket of the host's kernel, non-blocking, with async send and receive through the
/// ``SocketReactor``: bound (to receive from anyone) or connected (one flow to one service).
///
/// As with ``HostStream``, ``interrupt()`` wakes a waiting task and ``close()`` comes after the last call.
final class HostUDPSocket: Sendable {
    /// The bound address (with the kernel's port when port 0 was asked for).
    let localAddress: SocketAddress?
    private let descriptor: Int32
    private let reactor: SocketReactor
    private let registration: SocketReactor.Registration
    private let interrupted = Atomic<Bool>(false)
    private let released = Atomic<Bool>(false)

    /// The largest UDP payload (65535 less the IPv4 and UDP headers, RFC 768 / RFC 791).
    static let maximumDatagramSize = 65_507

    private init(descriptor: Int32, reactor: SocketReactor) throws(SystemError) {
        do {
            registration = try reactor.register(descriptor)
        } catch {
            Glibc.close(descriptor)
            throw error
        }
        self.descriptor = descriptor
        self.reactor = reactor
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let bound = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        localAddress = bound == 0 ? withUnsafeBytes(of: &storage) { SocketAddress($0.baseAddress!, length: length) } : nil
    }

    private static func open(family: Int32, for address: SocketAddress) throws(SystemError) -> Int32 {
        let descriptor = socket(family, Int32(SOCK_DGRAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw SystemError("open a UDP socket for \(address)", errno: errno) }
        return descriptor
    }

    /// A socket bound to `address`, receiving from any sender.
    static func bound(to address: SocketAddress, reactor: SocketReactor) throws(SystemError) -> HostUDPSocket {
        let descriptor = try open(family: address.family, for: address)
        guard address.withSockaddr({ bind(descriptor, $0, $1) }) == 0 else {
            let error = SystemError("bind UDP \(address)", errno: errno)
            Glibc.close(descriptor)
            throw error
        }
        return try HostUDPSocket(descriptor: descriptor, reactor: reactor)
    }

    /// A socket connected to `address`: it sends there and only receives from there.
    static func connected(to address: SocketAddress, reactor: SocketReactor) throws(SystemError) -> HostUDPSocket {
        let descriptor = try open(family: address.family, for: address)
        guard address.withSockaddr({ Glibc.connect(descriptor, $0, $1) }) == 0 else {
            let error = SystemError("connect UDP to \(address)", errno: errno)
            Glibc.close(descriptor)
            throw error
        }
        return try HostUDPSocket(descriptor: descriptor, reactor: reactor)
    }

    /// The next datagram and its sender, waiting until one arrives; `nil` after ``interrupt()``.
    ///
    /// ICMP errors reported for earlier sends (`ECONNREFUSED` on a connected socket) are skipped:
    /// UDP promises nothing, and the flow may come back.
    func receive() async throws -> (bytes: [UInt8], from: SocketAddress)? {
        while !interrupted.load(ordering: .acquiring) {
            var code: Int32 = 0
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let bytes = [UInt8](unsafeUninitializedCapacity: Self.maximumDatagramSize) { buffer, count in
                let received = withUnsafeMutablePointer(to: &storage) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        recvfrom(descriptor, buffer.baseAddress, buffer.count, 0, $0, &length)
                    }
                }
                if received >= 0 { count = received } else { count = 0; code = errno }
            }
            if code == 0 {
                guard let sender = withUnsafeBytes(of: &storage, { SocketAddress($0.baseAddress!, length: length) }) else { continue }
                return (bytes, sender)
            }
            if isWouldBlock(code) {
                do {
                    try await reactor.wait(for: .readable, on: registration)
                } catch is SocketShutDown {
                    return nil
                }
            } else if code != EINTR && code != ECONNREFUSED {
                throw SystemError("receive on UDP \(localAddress.map(\.description) ?? "socket")", errno: code)
            }
        }
        return nil
    }

    /// Sends one datagram (to `destination`, or to the connected address when nil), waiting while
    /// the socket's send buffer is full.
    func send(_ bytes: [UInt8], to destination: SocketAddress? = nil) async throws {
        while true {
            let sent = bytes.withUnsafeBytes { raw in
                if let destination {
                    return destination.withSockaddr { sendto(descriptor, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL), $0, $1) }
                }
                return Glibc.send(descriptor, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL))
            }
            if sent >= 0 { return }
            let code = errno
            if isWouldBlock(code) {
                try await reactor.wait(for: .writable, on: registration)
            } else if code == ECONNREFUSED {
                return  // an ICMP error for an earlier datagram; this one may still go through next time
            } else if code != EINTR {
                throw SystemError("send UDP to \(destination.map(\.description) ?? "peer")", errno: code)
            }
        }
    }

    /// Wakes a waiting ``receive()`` (it returns nil) and makes later ones return nil.
    func interrupt() {
        interrupted.store(true, ordering: .releasing)
        reactor.deregister(registration)
    }

    /// Releases the socket; call it once no call is running. Calling it again does nothing.
    func close() {
        guard !released.exchange(true, ordering: .acquiringAndReleasing) else { return }
        interrupt()
        Glibc.close(descriptor)
    }

    deinit { close() }
}
