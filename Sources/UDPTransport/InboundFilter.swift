extension UDPTransport {
    /// Which datagrams the kernel drops before it queues them to the transport's socket: a classic
    /// BPF socket filter (`SO_ATTACH_FILTER`) set with ``UDPTransport/setInboundFilter(_:)``.
    ///
    /// Two independent parts:
    /// - ``dropsForeignDatagrams`` drops what no receiver of a WireNet socket accepts. What passes:
    ///   WireGuard messages (the little-endian type word 1–4) of a length their type allows —
    ///   initiation 148 bytes, response 92, cookie reply 64 (paper §5.4.2–§5.4.7), transport data
    ///   32 or more (a keepalive is 32; padding is to a multiple of 16 but never past the sender's
    ///   MTU, so no finer rule holds); disco packets (the magic `TS` U+1F4AC, 78 bytes or more:
    ///   magic, sender key, nonce and the box's tag); STUN messages (RFC 5389 §6: the first two bits
    ///   0 and the magic cookie 0x2112A442 at offset 4, 20 bytes or more), for NAT discovery on the
    ///   same socket. On a socket with UDP GRO (``UDPTransport/receiveCoalescing``) the kernel may
    ///   queue a super-datagram of several datagrams of one flow, whose first segment alone decides
    ///   its type and whose length is their sum; so there handshake messages and cookie replies
    ///   need their size at least, not exactly, and a super-datagram whose first segment is foreign
    ///   is dropped whole.
    /// - ``handshakeSampling`` lets through only one in N initiations and responses, chosen at
    ///   random by the kernel: under a handshake flood this keeps most of the flood from costing
    ///   the engine a receive and a look at each datagram.
    ///
    /// Datagrams with under 4 bytes of payload are dropped whenever a filter is attached.
    public struct InboundFilter: Hashable, Sendable {
        /// Drop datagrams that are neither WireGuard messages of a possible length, disco packets
        /// nor STUN messages.
        public var dropsForeignDatagrams: Bool
        /// Let through one in this many handshake initiations and responses (2 or more); nil lets
        /// all of them through.
        public var handshakeSampling: UInt32?

        /// A filter that drops foreign datagrams or not, and samples handshake messages one in
        /// `oneIn` (nil: not at all).
        public init(dropsForeignDatagrams: Bool = false, handshakeSampling oneIn: UInt32? = nil) {
            self.dropsForeignDatagrams = dropsForeignDatagrams
            handshakeSampling = oneIn
        }

        /// No filter: every datagram reaches the socket.
        public static let passAll = InboundFilter()
    }
}
