import CWireNetShims
import Glibc

/// `SOL_UDP` options from include/uapi/linux/udp.h (not in Glibc's module).
enum UDPOption {
    static let level: CInt = 17  // SOL_UDP == IPPROTO_UDP
    static let segment: CInt = 103  // UDP_SEGMENT, Linux 4.18
    static let gro: CInt = 104  // UDP_GRO, Linux 5.0
}

/// The transport's one UDP socket: dual-stack `AF_INET6` (or `AF_INET` where IPv6 is disabled),
/// non-blocking, with packet-info, ICMP error queue and, when asked and supported, GRO.
final class DatagramSocket {
    let descriptor: CInt
    let family: CInt
    let localPort: UInt16
    /// The kernel accepts `UDP_SEGMENT` on this socket.
    let supportsSegmentation: Bool
    /// `UDP_GRO` is on.
    let coalescesReceives: Bool
    private var isClosed = false

    init(configuration: UDPTransport.Configuration) throws(Errno) {
        var family = AF_INET6
        var fd = socket(AF_INET6, CInt(SOCK_DGRAM.rawValue) | CInt(SOCK_NONBLOCK.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0, Errno.current == .addressFamilyNotSupported,
           configuration.address.isIPv4 || configuration.address == .any {
            // IPv6 is disabled on this host (ipv6.disable=1): an IPv4-only socket.
            family = AF_INET
            fd = socket(AF_INET, CInt(SOCK_DGRAM.rawValue) | CInt(SOCK_NONBLOCK.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        }
        guard fd >= 0 else { throw Errno.current }
        descriptor = fd
        self.family = family
        do throws(Errno) {
            if family == AF_INET6 {
                try SystemCall.setOption(fd, CInt(IPPROTO_IPV6), IPV6_V6ONLY, 0)
                try SystemCall.setOption(fd, CInt(IPPROTO_IPV6), IPV6_RECVPKTINFO, 1)
                try SystemCall.setOption(fd, CInt(IPPROTO_IPV6), IPV6_RECVERR, 1)
            } else {
                try SystemCall.setOption(fd, CInt(IPPROTO_IP), IP_PKTINFO, 1)
            }
            // IPv4 errors (also for IPv4-mapped peers of the IPv6 socket) need IP_RECVERR.
            try SystemCall.setOption(fd, CInt(IPPROTO_IP), IP_RECVERR, 1)
            for (force, plain) in [(SO_RCVBUFFORCE, SO_RCVBUF), (SO_SNDBUFFORCE, SO_SNDBUF)] {
                if (try? SystemCall.setOption(fd, SOL_SOCKET, force, CInt(configuration.socketBufferBytes))) == nil {
                    try? SystemCall.setOption(fd, SOL_SOCKET, plain, CInt(configuration.socketBufferBytes))
                }
            }
            if configuration.faults.disableIPv4Checksums {
                try SystemCall.setOption(fd, SOL_SOCKET, SO_NO_CHECK, 1)
            }
            coalescesReceives = configuration.gro
                && (try? SystemCall.setOption(fd, UDPOption.level, UDPOption.gro, 1)) != nil
            supportsSegmentation = configuration.gso
                && (try? SystemCall.option(fd, UDPOption.level, UDPOption.segment)) != nil

            var address = sockaddr_in6()
            let bindAddress = family == AF_INET && configuration.address == .any
                ? UDPEndpoint.Address(ipv4: 0) : configuration.address
            guard let length = UDPEndpoint(address: bindAddress, port: configuration.port)
                .write(to: &address, family: family)
            else { throw Errno.addressFamilyNotSupported }
            _ = try withUnsafePointer(to: &address) { pointer throws(Errno) in
                try SystemCall.require {
                    bind(fd, UnsafeRawPointer(pointer).assumingMemoryBound(to: sockaddr.self), length)
                }
            }
            var bound = sockaddr_in6()
            var boundLength = socklen_t(MemoryLayout<sockaddr_in6>.size)
            _ = try withUnsafeMutablePointer(to: &bound) { pointer throws(Errno) in
                try SystemCall.require {
                    getsockname(fd, UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: sockaddr.self), &boundLength)
                }
            }
            localPort = withUnsafePointer(to: &bound) { pointer in
                UDPEndpoint(socketAddress: UnsafeRawPointer(pointer).assumingMemoryBound(to: sockaddr.self),
                            length: Int(boundLength))?.port ?? 0
            }
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        Glibc.close(descriptor)
    }

    deinit { close() }
}
