import Wire

/// Configuration of an `IPStack`: the node's addresses, its MTU and the defaults for its sockets.
public struct IPStackConfiguration: Sendable {
    /// Addresses this node owns; packets to any other destination are dropped and counted.
    public var addresses: [IPAddress]
    /// Interface MTU in bytes, clamped to 1280 (RFC 8200 §5 minimum) ... 65535. TCP's MSS is derived from
    /// it: MTU − 40 for IPv4 and MTU − 60 for IPv6 (RFC 9293 §3.7.1, RFC 8200 §8.3).
    public var mtu: Int = 1420
    /// Defaults for every TCP connection (the MSS is overridden from `mtu`).
    public var tcp: TCPConfiguration = TCPConfiguration()
    /// TTL / hop limit of packets this stack sends (RFC 1700 / RFC 8200 §3 recommend 64).
    public var timeToLive: UInt8 = 64
    /// Largest listen backlog accepted (Linux somaxconn defaults to 4096; listeners pick less).
    public var maximumBacklog: Int = 1024
    /// Most TCP connections (of all states, TIME-WAIT included) held at once.
    public var maximumConnections: Int = 16384
    /// Most TCP connections one remote address may hold through passive opens (its SYNs to our
    /// listeners), all states but TIME-WAIT included, so that one peer cannot take
    /// `maximumConnections` from everyone else; SYNs beyond it are dropped and counted. Connections
    /// this stack opens are not counted, nor TIME-WAIT records (a new SYN reclaims the oldest record
    /// when the table is full). The default lets four such peers fill the table.
    public var maximumConnectionsPerRemoteAddress: Int = 4096
    /// Answer SYNs with SYN cookies when a listener's SYN queue is full (RFC 4987 §3.6; Linux
    /// `tcp_syncookies = 1`): no state is kept for them, and the handshake's final ACK rebuilds the
    /// connection (MSS from a table of four, window scale and SACK only with timestamps). When off,
    /// a SYN that finds the queue full replaces its oldest half-open connection instead.
    public var synCookies: Bool = true
    /// Bytes all TCP send and receive buffers of this stack may hold together (Linux's `tcp_mem`, in
    /// bytes). Buffers take storage only while they hold data, in chunks of `tcpBufferChunkSize`; when
    /// this total is reached, receivers advertise smaller windows and `send` accepts fewer bytes until
    /// data is read or acknowledged. One eighth is kept for receive buffers, so that applications that
    /// write without reading cannot stop the node from receiving. The per-connection limits
    /// (`TCPConfiguration.receiveBufferSize`, `sendBufferSize`) apply as well.
    public var tcpBufferMemoryLimit: Int = 256 << 20
    /// Bytes per buffer chunk (a power of two, 256 or more): the granularity of `tcpBufferMemoryLimit`
    /// and the most a connection holding one byte pays for it.
    public var tcpBufferChunkSize: Int = 4096
    /// Error replies (TCP RST for closed ports, ICMP port unreachable) per second, and their burst
    /// (RFC 1812 §4.3.2.8 and RFC 4443 §2.4 (f) require rate limiting; Linux allows ~1000/s).
    public var errorRepliesPerSecond: Int = 1000
    public var errorReplyBurst: Int = 50
    /// Bytes of datagrams (plus 24 bytes of bookkeeping each) a UDP socket queues before dropping.
    public var udpReceiveBufferSize: Int = 256 * 1024
    /// Bytes of queued non-TCP output (ICMP, RST, UDP) before further packets are dropped.
    public var outputQueueSize: Int = 1 << 20
    /// IPv4/IPv6 fragment reassembly limits.
    public var reassembly: FragmentReassemblyLimits = FragmentReassemblyLimits()
    /// Seed for ISS, ephemeral ports and timestamp offsets. nil uses the system's random generator
    /// (what production wants, RFC 6528 §3); a seed makes simulations reproducible.
    public var randomSeed: UInt64? = nil

    public init(addresses: [IPAddress]) { self.addresses = addresses }

    /// The MTU actually used.
    public var effectiveMTU: Int { Swift.min(Swift.max(mtu, 1280), 65535) }
}

/// Bounds on fragment reassembly, so that fragments cannot exhaust memory (RFC 791 §3.2 leaves the
/// limits to the implementation; RFC 8200 §4.5 gives 60 s for IPv6).
public struct FragmentReassemblyLimits: Sendable, Hashable {
    /// Datagrams being reassembled at once.
    public var maximumDatagrams: Int = 64
    /// Total bytes held by all partial datagrams.
    public var maximumBytes: Int = 4 << 20
    /// Time a partial datagram may wait for its missing fragments (RFC 8200 §4.5: 60 s; Linux
    /// ipfrag_time = 30 s).
    public var timeout: Duration = .seconds(30)

    public init() {}
}
