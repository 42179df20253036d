import Glibc
import UDPTransport
import Wire

/// The outcome of a non-blocking call: done with a value, or not now (`EAGAIN`, or TLS wanting the
/// socket readable/writable).
enum StreamResult<Value> {
    case done(Value)
    case wouldBlock
}

/// A non-blocking TCP socket: the one place this module calls the kernel (`EINTR` retried here,
/// `EAGAIN` returned as a value, other failures thrown as ``Errno``).
struct StreamSocket {
    let descriptor: CInt

    /// Starts a non-blocking connect to `address`:`port`; completion shows as writability.
    init(connectingTo address: IPAddress, port: UInt16) throws(Errno) {
        let family = switch address { case .v4: AF_INET; case .v6: AF_INET6 }
        let fd = socket(family, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_NONBLOCK.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Errno(rawValue: errno) }
        descriptor = fd
        var one: CInt = 1
        _ = setsockopt(fd, CInt(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<CInt>.size))
        var result: CInt
        switch address {
        case .v4(let v4):
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = port.bigEndian
            sa.sin_addr.s_addr = v4.rawValue.bigEndian
            result = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        case .v6(let v6):
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &sa.sin6_addr) { raw in
                raw.storeBytes(of: v6.high.bigEndian, toByteOffset: 0, as: UInt64.self)
                raw.storeBytes(of: v6.low.bigEndian, toByteOffset: 8, as: UInt64.self)
            }
            result = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        }
        if result < 0 && errno != EINPROGRESS && errno != EINTR {
            let error = Errno(rawValue: errno)
            Glibc.close(fd)
            throw error
        }
    }

    /// The result of the connect once the socket is writable: nil when connected, else its error.
    func connectError() -> Errno? {
        var value: CInt = 0
        var length = socklen_t(MemoryLayout<CInt>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &value, &length) == 0 else { return Errno(rawValue: errno) }
        return value == 0 ? nil : Errno(rawValue: value)
    }

    /// Reads into `buffer`; `.done(0)` is the end of the stream.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> StreamResult<Int> {
        while true {
            let n = Glibc.read(descriptor, buffer.baseAddress, buffer.count)
            if n >= 0 { return .done(n) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: throw Errno(rawValue: errno)
            }
        }
    }

    /// Writes some of `bytes` (never raising SIGPIPE).
    func write(_ bytes: UnsafeRawBufferPointer) throws(Errno) -> StreamResult<Int> {
        while true {
            let n = send(descriptor, bytes.baseAddress, bytes.count, CInt(MSG_NOSIGNAL))
            if n >= 0 { return .done(n) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: throw Errno(rawValue: errno)
            }
        }
    }

    func close() { Glibc.close(descriptor) }
}
