extension UDPTransport {
    /// Counters since the transport was opened (read them from the loop thread).
    public struct Statistics: Sendable {
        /// Datagrams delivered to ``UDPTransport/receive(into:timeout:)`` callers.
        public var datagramsReceived = 0
        /// Payload bytes of those datagrams.
        public var bytesReceived = 0
        /// Receive completions (`recvmsg` results); fewer than datagrams when GRO coalesces.
        public var receiveMessages = 0
        /// Datagrams the kernel accepted for sending.
        public var datagramsSent = 0
        /// Payload bytes of those datagrams.
        public var bytesSent = 0
        /// `sendmsg` operations that carried a `UDP_SEGMENT` super-datagram.
        public var segmentedSends = 0
        /// All `sendmsg` operations (single datagrams and super-datagrams).
        public var sendMessages = 0
        /// `io_uring_submit` / `sendmmsg` / `recvmmsg` calls.
        public var systemCalls = 0
        /// Datagrams reported in ``DatagramError``s.
        public var datagramErrors = 0
        /// Error reports dropped because nobody called `receive` to collect them.
        public var droppedErrorReports = 0
        /// Datagrams dropped because they were larger than a receive buffer (`MSG_TRUNC`).
        public var truncatedDatagrams = 0
        /// Times the receive side ran out of free buffers (the caller held them all).
        public var receiveBufferExhaustions = 0
    }
}
