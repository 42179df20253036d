#if canImport(Glibc)
import Glibc
#endif

/// The `wirenet status` side of the control socket: sends one command and returns the reply.
///
/// It blocks the calling thread: `wirenet status` does nothing else meanwhile.
public enum ControlClient {
    /// Connects to `path`, sends `command` and reads the reply to the end.
    ///
    /// - Throws: ``ControlSocketError`` when nothing answers at `path` (no `wirenet up` running).
    public static func request(_ command: String, path: String) throws(ControlSocketError) -> String {
        guard let address = SocketAddress(unixPath: path) else {
            throw ControlSocketError(path: path, reason: "path longer than a unix socket allows (107 bytes)")
        }
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw ControlSocketError(path: path, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        guard address.withSockaddr({ connect(descriptor, $0, $1) }) == 0 else {
            throw ControlSocketError(path: path, reason: "\(String(cString: strerror(errno))) (is `wirenet up` running?)")
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = Array((command + "\n").utf8)
        guard request.withUnsafeBytes({ send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else {
            throw ControlSocketError(path: path, reason: "cannot send the request: \(String(cString: strerror(errno)))")
        }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count == 0 { break }
            if count < 0 {
                if errno == EINTR { continue }
                throw ControlSocketError(path: path, reason: "cannot read the reply: \(String(cString: strerror(errno)))")
            }
            reply += buffer[0..<count]
        }
        return String(decoding: reply, as: UTF8.self)
    }
}
