/// Counters of what the stack received, dropped and sent. Every dropped packet is counted once, under
/// the first reason it failed.
public struct IPStackCounters: Hashable, Sendable {
    public var packetsReceived = 0
    public var packetsSent = 0
    /// Failed validation by `Wire` (truncated, bad lengths, bad version, bad options).
    public var malformed = 0
    public var badChecksum = 0
    /// Destination is not one of our addresses.
    public var wrongAddress = 0
    /// Source address is invalid (ours, multicast, broadcast or unspecified).
    public var badSource = 0
    public var unknownProtocol = 0
    public var fragmentsReceived = 0
    public var fragmentsDropped = 0
    public var datagramsReassembled = 0
    public var icmpEchoRepliesSent = 0
    public var icmpIgnored = 0
    public var icmpUnreachableSent = 0
    public var tcpResetsSent = 0
    public var tcpSegmentsReceived = 0
    public var tcpSegmentsSent = 0
    /// TCP segments for no connection or listener.
    public var tcpNoSocket = 0
    /// SYNs dropped because the listener's accept queue or the connection table was full.
    public var tcpBacklogDrops = 0
    /// SYNs dropped because their source address holds `maximumConnectionsPerRemoteAddress`.
    public var tcpPerAddressLimitDrops = 0
    /// TIME-WAIT records dropped (the oldest first) to make room in a full connection table.
    public var tcpTimeWaitReclaimed = 0
    /// Half-open connections dropped from a full SYN queue to make room for a new SYN.
    public var tcpSynQueueEvictions = 0
    /// Connections reset on completing their handshake because the accept queue was full.
    public var tcpAcceptQueueOverflows = 0
    /// SYN,ACKs sent with a SYN cookie because the listener's SYN queue was full (Linux
    /// `SyncookiesSent`).
    public var tcpSynCookiesSent = 0
    /// Final ACKs whose SYN cookie was valid (Linux `SyncookiesRecv`): each rebuilt a connection,
    /// unless the accept queue, the connection table or the per-address limit was full (counted there).
    public var tcpSynCookiesValidated = 0
    /// ACKs to a listener that had sent cookies recently whose cookie was forged, too old, for
    /// another 4-tuple or with options we do not accept; answered with a RST (Linux `SyncookiesFailed`).
    public var tcpSynCookiesRejected = 0
    /// Connections `handleTimers(now:)` visited because their earliest deadline was due. Connections
    /// with no due timer are never visited, so an idle table adds nothing here.
    public var tcpTimerVisits = 0
    public var udpDatagramsReceived = 0
    public var udpDatagramsSent = 0
    /// UDP datagrams for no socket.
    public var udpNoSocket = 0
    /// UDP datagrams dropped because the socket's queue was full.
    public var udpReceiveQueueDrops = 0
    /// Error replies suppressed by the rate limit.
    public var errorRepliesRateLimited = 0
    /// Non-TCP output dropped because the output queue was full.
    public var outputQueueDrops = 0

    public init() {}
}
