import Glibc
import Locking
import Wire
@testable import NetStack

/// A service on the stack that relays each accepted connection to a TCP server on the host's
/// loopback (e.g. `iperf3 -s`): the stack terminates the client's TCP, a kernel socket carries the
/// bytes on. Half-closes propagate both ways; an error on either side closes both.
final class TCPRelay {
    private struct Pair {
        var socket: TCPSocketHandle
        var fd: CInt
        var toKernel: [UInt8] = []
        var toStack: [UInt8] = []
        var stackFinished = false   // the stack side reached end of stream
        var kernelFinished = false  // the kernel side reached end of stream
        var kernelShutDown = false
        var stackShutDown = false
    }

    let port: UInt16
    let targetPort: UInt16
    private var listener: TCPListenerHandle?
    private var pairs: [Pair] = []
    private var buffer = [UInt8](repeating: 0, count: 65536)
    private let counter = Lock(0)
    /// Connections relayed so far (readable from any thread).
    var relayedConnections: Int { counter.withLock { $0 } }

    /// The listener is opened on the first step, on the thread that owns the stack.
    init(port: UInt16, targetPort: UInt16) {
        self.port = port
        self.targetPort = targetPort
    }

    func step(_ stack: IPStack, _ now: NetInstant) {
        if listener == nil { listener = try? stack.listen(port: port) }
        guard let listener else { return }
        while let socket = try? stack.accept(listener) {
            let fd = socket_nonblocking_loopback_connect(port: targetPort)
            guard fd >= 0 else { stack.abort(socket); continue }
            pairs.append(Pair(socket: socket, fd: fd))
            counter.withLock { $0 += 1 }
        }
        var i = 0
        while i < pairs.count {
            if relay(&pairs[i], stack, now) {
                close(pairs[i].fd)
                pairs.remove(at: i)
            } else {
                i += 1
            }
        }
    }

    /// Moves what can move without blocking; returns true when the pair is finished.
    private func relay(_ pair: inout Pair, _ stack: IPStack, _ now: NetInstant) -> Bool {
        guard let status = stack.status(of: pair.socket), status.error == nil else {
            stack.abort(pair.socket)
            return true
        }
        // Stack → kernel.
        if pair.toKernel.isEmpty && !pair.stackFinished {
            let n = buffer.withUnsafeMutableBytes { (try? stack.receive(pair.socket, into: $0)) ?? 0 }
            if n > 0 { pair.toKernel = Array(buffer[0..<n]) } else if status.isAtEndOfStream { pair.stackFinished = true }
        }
        if !pair.toKernel.isEmpty {
            let sent = pair.toKernel.withUnsafeBytes { send(pair.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent > 0 {
                pair.toKernel.removeFirst(sent)
            } else if sent < 0 && errno != EAGAIN && errno != ENOTCONN && errno != EINPROGRESS {
                stack.abort(pair.socket)
                return true
            }
        }
        if pair.stackFinished && pair.toKernel.isEmpty && !pair.kernelShutDown {
            shutdown(pair.fd, Int32(SHUT_WR))
            pair.kernelShutDown = true
        }
        // Kernel → stack.
        if pair.toStack.isEmpty && !pair.kernelFinished {
            let n = buffer.withUnsafeMutableBytes { recv(pair.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n > 0 {
                pair.toStack = Array(buffer[0..<n])
            } else if n == 0 {
                pair.kernelFinished = true
            } else if errno != EAGAIN && errno != ENOTCONN && errno != EINPROGRESS {
                stack.abort(pair.socket)
                return true
            }
        }
        if !pair.toStack.isEmpty {
            let sent = pair.toStack.withUnsafeBytes { (try? stack.send(pair.socket, $0)) ?? 0 }
            pair.toStack.removeFirst(sent)
        }
        if pair.kernelFinished && pair.toStack.isEmpty && !pair.stackShutDown {
            try? stack.shutdownWrite(pair.socket)
            pair.stackShutDown = true
        }
        if pair.stackShutDown && pair.kernelShutDown {
            stack.close(pair.socket, now: now)
            return true
        }
        return false
    }
}

/// A non-blocking TCP socket connecting to 127.0.0.1:`port`; -1 on failure.
private func socket_nonblocking_loopback_connect(port: UInt16) -> CInt {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
    guard fd >= 0 else { return -1 }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    if result < 0 && errno != EINPROGRESS {
        close(fd)
        return -1
    }
    return fd
}
