import Wire

/// A connection's identity: our endpoint and the peer's.
struct TCPFlow: Hashable {
    var local: IPEndpoint
    var remote: IPEndpoint
}

/// One entry of the stack's connection table.
struct TCPSlot {
    var generation: UInt32 = 0
    var connection: TCPConnection? = nil
    var flow: TCPFlow
    /// Listener whose backlog holds this connection until it is accepted.
    var listener: Int32? = nil
    /// The application holds a handle (from connect or accept) and has not closed it.
    var applicationOwned = false
    /// In `tcpOutputPending`.
    var outputPending = false
    /// Opened by the remote's SYN: counted in `IPStack.tcpPassiveByRemote`.
    var passive = false
    /// In `tcpDeadlinesStale`: `tcpTimers` may not hold this connection's next deadline.
    var deadlineStale = false
}

/// One listening socket (RFC 9293 §3.10.1 passive OPEN).
struct ListenerSlot {
    var generation: UInt32 = 0
    var open = false
    var port: UInt16 = 0
    /// Only accept connections to this address (nil: any of ours).
    var address: IPAddress? = nil
    /// Bound of each of the two queues below (as Linux bounds both by the listen backlog).
    var backlog = 0
    /// Connections in SYN-RECEIVED, oldest first (the SYN queue): when full, the oldest is dropped
    /// for a new SYN, so that a flood of SYNs never completed cannot lock real clients out.
    var synQueue: [Int32] = []
    /// Established connections waiting for `accept`; when full, new SYNs are dropped.
    var acceptQueue: [Int32] = []
    /// When this listener last answered a SYN with a cookie: ACKs are checked for cookies only within
    /// `SynCookies.validationWindow` of it.
    var lastSynCookie: NetInstant? = nil

    func accepts(_ destination: IPAddress) -> Bool { address == nil || address == destination }
}

extension TCPSegmentHeader {
    /// The state machine's view of a parsed segment.
    init(_ segment: TCPSegment) {
        let options = segment.options
        self.init(
            seq: SequenceNumber(segment.sequenceNumber), ack: SequenceNumber(segment.acknowledgmentNumber),
            control: TCPControlBits(rawValue: UInt8(truncatingIfNeeded: segment.flags.rawValue & 0x3F)),
            window: segment.window, payloadLength: segment.payload.count,
            maxSegmentSize: options.maximumSegmentSize, windowScale: options.windowScale,
            sackPermitted: options.sackPermitted, timestamps: options.timestamps, sackBlocks: options.sackBlocks)
    }
}
