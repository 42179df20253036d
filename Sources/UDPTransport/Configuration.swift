import Glibc

extension UDPTransport {
    /// Which I/O path the transport uses.
    public enum Backend: Sendable, Equatable {
        /// io_uring when the kernel allows it, otherwise the portable path (logged once).
        case automatic
        /// io_uring: multishot `recvmsg` over a provided-buffer ring, batched `sendmsg` submissions.
        /// Opening fails when io_uring is unavailable.
        case ioUring
        /// `recvmmsg`/`sendmmsg` on a non-blocking socket, waiting with `ppoll`.
        case portable
    }

    /// How to open a transport. The defaults suit a WireGuard data plane.
    public struct Configuration: Sendable {
        /// Local address to bind (default: the wildcard `::`, dual-stack).
        public var address: UDPEndpoint.Address = .any
        /// Local port; 0 lets the kernel pick one (see ``UDPTransport/localPort``).
        public var port: UInt16 = 0
        public var backend: Backend = .automatic
        /// Send runs of equal-size datagrams to one destination as UDP GSO super-datagrams
        /// (`UDP_SEGMENT`). Used only if the kernel supports it; an off switch for kernels with GSO bugs.
        public var gso = true
        /// Let the kernel coalesce received datagrams of one flow (`UDP_GRO`); split on delivery.
        public var gro = true
        /// Send buffers in the pool (also the most `sendmsg` operations in flight).
        public var sendBufferCount = 1024
        /// Largest datagram a send buffer holds (without head- and tailroom).
        public var sendBufferSize = 2048
        /// Bytes before each datagram in a send buffer (room for WireGuard's 16-byte header).
        public var headroom = 32
        /// Bytes after each datagram in a send buffer (room for padding and the 16-byte tag).
        public var tailroom = 32
        /// Receive buffers (a power of two, at most 32768).
        public var receiveBufferCount = 256
        /// Largest (super-)datagram a receive buffer holds; nil picks 65535 with GRO and 4096 without.
        public var receiveBufferSize: Int? = nil
        /// `SO_RCVBUF`/`SO_SNDBUF` request (`*FORCE` is tried first, which needs `CAP_NET_ADMIN`).
        public var socketBufferBytes = 4 << 20
        /// io_uring submission-queue entries (the completion queue gets enough for every buffer).
        public var submissionQueueEntries = 512
        /// Where the transport logs its rare events (fallback to the portable path, GSO refused).
        public var log: @Sendable (String) -> Void = { message in
            var line = "UDPTransport: " + message + "\n"
            line.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
        }

        /// Fault injection for tests (see ``FaultInjection``).
        var faults = FaultInjection()

        public init(port: UInt16 = 0, backend: Backend = .automatic, gso: Bool = true, gro: Bool = true) {
            self.port = port
            self.backend = backend
            self.gso = gso
            self.gro = gro
        }

        var effectiveReceiveBufferSize: Int { receiveBufferSize ?? (gro ? 65535 : 4096) }
    }

    /// Ways for tests to make the kernel take the transport's failure paths.
    struct FaultInjection: Sendable {
        /// io_uring setup fails with this error before touching the kernel (as with
        /// `kernel.io_uring_disabled`, seccomp or an old kernel).
        var ioUringSetupError: Errno? = nil
        /// Sets `SO_NO_CHECK` on the socket, with which the kernel refuses every IPv4 `UDP_SEGMENT`
        /// send with `EINVAL` (net/ipv4/udp.c, `udp_send_skb`) but still sends single datagrams.
        var disableIPv4Checksums = false
    }
}
