#if canImport(Glibc)
import Glibc
#endif

/// A system call on a host socket failed: what was attempted, and `errno`.
///
/// The description reads `connect to 127.0.0.1:5202: Connection refused`.
public struct SystemError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What was attempted, e.g. `listen on 127.0.0.1:5201`.
    public var operation: String
    /// The `errno` the call left.
    public var errno: Int32

    /// An error for `operation` with the `errno` it left.
    public init(_ operation: String, errno: Int32) {
        self.operation = operation
        self.errno = errno
    }

    public var description: String { "\(operation): \(String(cString: strerror(errno)))" }
}

/// A wait on a host socket ended because the socket was shut down locally (``SocketReactor/deregister(_:)``).
struct SocketShutDown: Error, CustomStringConvertible {
    var description: String { "the socket was shut down" }
}

/// True for the `errno` values that mean "try again once the descriptor is ready".
@inline(__always)
func isWouldBlock(_ code: Int32) -> Bool { code == EAGAIN || code == EWOULDBLOCK }
