import Wire

/// One TCP connection as a sans-IO state machine (RFC 9293), in the style of "state machines return
/// actions": it is fed segments (`handle(_:payload:now:)`) and time (`handleTimers(now:)`), reports what
/// changed as `TCPConnectionEvents`, and is drained of segments to send with `nextSegment(now:)`.
///
/// Typical driving loop, done by the stack for every connection it touched:
/// ```
/// events.formUnion(connection.handle(header, payload: bytes, now: now))
/// while let segment = connection.nextSegment(now: now) {
///     // build IP+TCP headers from `segment`, then
///     connection.copyPayload(of: segment, into: payloadArea)
/// }
/// ```
/// and `nextDeadline` says when to call `handleTimers(now:)`.
///
/// Send and receive data live in rings bounded by the configured buffer sizes whose storage is taken
/// chunk by chunk from a `BufferChunkPool` while they hold data (`attachBuffers(to:)` sets the node's
/// pool): an idle connection holds no buffer memory. Once the pool's cache is warm, nothing on the
/// per-segment path allocates.
public struct TCPConnection {
    public internal(set) var state: TCPState
    /// Why the connection ended, if it ended abnormally.
    public internal(set) var error: TCPConnectionError?
    /// Fixed at creation, except that the stack lowers `maxSynRetransmissions` of a half-open
    /// connection whose listener's SYN queue becomes crowded.
    public internal(set) var configuration: TCPConfiguration

    public internal(set) var send: SendSequenceSpace
    public internal(set) var receive = ReceiveSequenceSpace()

    // MARK: Negotiated options
    /// The smallest send MSS accepted from a peer's MSS option, as Linux's `min_snd_mss` (48): a peer
    /// announcing 0, 1 or a few bytes cannot make us cut the stream into tiny segments, each with a
    /// 40-byte header and its own ACK (the CVE-2019-11479 resource-exhaustion class).
    public static let minimumSendMSS = 48
    /// RFC 7323 §5.5: a TS.Recent older than 24 days is invalid (the peer's timestamp clock may have
    /// wrapped its sign bit since): the PAWS test is skipped and the next TSval taken as TS.Recent.
    static let tsRecentLifetime: Int64 = 24 * 86_400 * 1_000_000_000
    /// Unacceptable segments without data (pure ACKs out of window, PAWS duplicates) are answered at
    /// most once per this interval (Linux `tcp_invalid_ratelimit`, 500 ms; RFC 5961 §7's reasoning):
    /// two ends that each find the other's ACKs unacceptable cannot trade ACKs in a loop.
    static let outOfWindowAckInterval: Int64 = 500_000_000
    /// MSS option received from the peer (or the RFC 9293 §3.7.1 default).
    var peerMSS: Int
    /// Payload bytes per segment: min(peer MSS, our MSS) less the timestamps option if used.
    public internal(set) var effectiveMSS: Int
    var timestampsEnabled = false
    /// TS.Recent (RFC 7323 §4.3).
    var tsRecent: UInt32 = 0
    /// When TS.Recent was last set: it is invalid after `tsRecentLifetime` (RFC 7323 §5.5).
    var tsRecentStamp = NetInstant.zero
    /// Last.ACK.sent (RFC 7323 §4.3).
    var lastAckSent = SequenceNumber(0)
    /// Offset added to our millisecond clock for TSval (RFC 7323 §5.4 recommends a random offset).
    let timestampOffset: UInt32
    let wantsWindowScale: Bool
    /// The peer's SYN carried a window-scale option (RFC 7323 §2.2: only then does a SYN,ACK carry ours).
    var peerSentWindowScale = false

    // MARK: Buffers
    let sendBuffer: ByteRing
    let receiveBuffer: ByteRing
    /// Sequence number of the first byte in `sendBuffer`.
    var sendBufferStart: SequenceNumber
    /// The application shut down its sending side; a FIN follows the last byte in `sendBuffer`.
    public internal(set) var finQueued = false
    /// The peer's FIN was received (in order); reads return end-of-stream once the buffer is drained.
    public internal(set) var finReceived = false
    /// Offset from RCV.NXT of a FIN that arrived out of order.
    var pendingFinOffset: Int? = nil
    /// The application closed the connection and will not read any more.
    var closedByApplication = false
    /// Nagle's algorithm is off for this connection (RFC 1122 §4.2.3.4: switchable per connection,
    /// like TCP_NODELAY); starts from `configuration.noDelay`.
    public var noDelay: Bool
    /// End of the last data segment sent shorter than the MSS (Linux `snd_sml`): Nagle holds a small
    /// segment only while this one is unacknowledged (Minshall's refinement, draft-minshall-nagle-01).
    var smallSegmentEnd: SequenceNumber? = nil

    // MARK: Timers (deadlines)
    var rto: RetransmissionTimeout
    /// Retransmission timer, or persist timer while the peer's window is zero (RFC 9293 §3.8.6.1).
    var retransmitDeadline: NetInstant? = nil
    var retransmitCount = 0
    /// Segments this connection sent again, by kind (for statistics).
    public internal(set) var retransmissions = TCPRetransmissionCounts()
    var keepaliveDeadline: NetInstant? = nil
    var keepaliveProbesSent = 0
    /// TIME-WAIT expiry, or the FIN-WAIT-2 timeout of a fully closed connection.
    var closeDeadline: NetInstant? = nil
    /// RTT measurement in progress when timestamps are off (RFC 6298 §3, Karn's algorithm).
    var rttTimedSequence: SequenceNumber? = nil
    var rttTimedAt = NetInstant.zero

    // MARK: Output obligations
    var ackNow = false
    /// The last segment processed owes an ACK that must leave before the next arriving segment is
    /// processed: it was out of order, filled a hole, or duplicated data (RFC 5681 §4.2, RFC 2018 §4,
    /// RFC 2883 §4). See `nextImmediateAck(now:)`.
    var immediateAckDue = false
    var probeDue = false
    var keepaliveDue = false
    var pendingReset: TCPSegmentHeader? = nil
    var challengeAckWindowStart = NetInstant.zero
    var challengeAcksInWindow = 0
    /// When the last reply to an unacceptable segment without data was sent (rate limit, see
    /// `outOfWindowAckInterval`).
    var lastOutOfWindowAck: NetInstant? = nil

    // MARK: Loss recovery, congestion control, reassembly and ACK policy
    /// Scoreboard, loss recovery and congestion policy (RFC 6675, RFC 6582, RFC 9438/5681).
    var sender: TCPSender
    /// Reassembly queue, SACK blocks and ACK policy (RFC 2018, RFC 2883, RFC 5681 §4.2).
    var receiver: TCPReceiver

    // MARK: Creating connections

    /// Active open (RFC 9293 §3.10.1): the connection starts in SYN-SENT with a SYN due.
    public init(
        activeOpenWith configuration: TCPConfiguration, iss: SequenceNumber, now: NetInstant,
        timestampOffset: UInt32 = 0, defaultPeerMSS: Int = 536
    ) {
        self.configuration = configuration
        noDelay = configuration.noDelay
        state = .synSent
        send = SendSequenceSpace(iss: iss)
        sendBufferStart = iss + 1
        self.timestampOffset = timestampOffset
        peerMSS = defaultPeerMSS
        effectiveMSS = Swift.max(1, Swift.min(defaultPeerMSS, configuration.maxSegmentSize))
        wantsWindowScale = configuration.windowScaling
        sendBuffer = ByteRing(capacity: configuration.sendBufferSize, forSending: true)
        receiveBuffer = ByteRing(capacity: configuration.receiveBufferSize)
        receiver = TCPReceiver(
            bufferSize: configuration.receiveBufferSize,
            delayedAck: configuration.delayedAckTimeout.saturatedNanoseconds,
            quickAcks: configuration.quickAcks, mss: configuration.maxSegmentSize,
            initialWindow: configuration.initialReceiveWindow, autoTuning: configuration.receiveWindowAutoTuning,
            quickAckReentry: configuration.quickAckReentry, sackCompression: configuration.sackCompression,
            stretchAckSegments: configuration.stretchAckSegments)
        rto = RetransmissionTimeout(
            minimum: configuration.minimumRTO.saturatedNanoseconds,
            maximum: configuration.maximumRTO.saturatedNanoseconds)
        sender = TCPSender(algorithm: configuration.congestionControl, mss: effectiveMSS, iss: iss)
        if wantsWindowScale { receive.scale = Self.windowScale(for: receiveBuffer.capacity) }
        resetKeepalive(now: now)
    }

    /// Passive open: a SYN arrived for a listening socket (RFC 9293 §3.10.7.2). The connection starts in
    /// SYN-RECEIVED with a SYN,ACK due. Returns nil if `syn` is not a plain SYN.
    public init?(
        passiveOpenFrom syn: TCPSegmentHeader, configuration: TCPConfiguration, iss: SequenceNumber,
        now: NetInstant, timestampOffset: UInt32 = 0, defaultPeerMSS: Int = 536
    ) {
        guard syn.control.contains(.syn), !syn.control.contains(.ack), !syn.control.contains(.rst) else {
            return nil
        }
        self.init(
            activeOpenWith: configuration, iss: iss, now: now, timestampOffset: timestampOffset,
            defaultPeerMSS: defaultPeerMSS)
        state = .synReceived
        acceptPeerSyn(syn, now: now)
    }

    /// RFC 7323 §2.3: the smallest shift that lets the window field describe the whole buffer (≤ 14).
    static func windowScale(for bufferSize: Int) -> UInt8 {
        var shift: UInt8 = 0
        while shift < 14 && (bufferSize >> Int(shift)) > 65535 { shift += 1 }
        return shift
    }

    /// Records the peer's SYN: IRS, RCV.NXT and the options it offered (RFC 9293 §3.10.7.2/3,
    /// RFC 7323 §2.2 and §3.2).
    mutating func acceptPeerSyn(_ syn: TCPSegmentHeader, now: NetInstant) {
        receive.irs = syn.seq
        receive.nxt = syn.seq + 1
        receive.advertisedEdge = receive.nxt
        // RFC 7323 §2.2: the window field of a SYN is never scaled.
        send.window = Int(syn.window)
        send.maxWindow = send.window
        send.wl1 = syn.seq
        send.wl2 = syn.ack
        peerSentWindowScale = syn.windowScale != nil
        if let peerScale = syn.windowScale, wantsWindowScale {
            // RFC 7323 §2.3: a shift above 14 is treated as 14.
            send.scale = Swift.min(peerScale, 14)
        } else {
            send.scale = 0
            receive.scale = 0
        }
        // CVE-2019-11479 class: an MSS option below the floor is raised to it (Linux min_snd_mss).
        if let mss = syn.maxSegmentSize { peerMSS = Swift.max(Int(mss), Self.minimumSendMSS) }
        // RFC 2018 §2: SACK is used only when both SYNs carried SACK-permitted.
        if syn.sackPermitted && configuration.selectiveAcknowledgments {
            sender.enableSACK()
            receiver.enableSACK()
        }
        if let ts = syn.timestamps, configuration.timestamps {
            timestampsEnabled = true
            tsRecent = ts.value
            tsRecentStamp = now
        } else {
            timestampsEnabled = false
        }
        // RFC 9293 §3.7.1: effective send MSS, less the options carried on every segment (RFC 7323 §3).
        // The peer's MSS was floored at `minimumSendMSS` above; as in Linux the options come off after
        // that floor (48 − 12 = 36 bytes of data with timestamps).
        let optionBytes = timestampsEnabled ? 12 : 0
        effectiveMSS = Swift.max(1, Swift.min(peerMSS, configuration.maxSegmentSize) - optionBytes)
        sender.updateMSS(effectiveMSS)
        receiver.window.updateSegmentSize(effectiveMSS)
    }

    /// Takes buffer storage from `pool` (the node's) from now on. Only before any data was buffered.
    func attachBuffers(to pool: BufferChunkPool) {
        sendBuffer.attach(to: pool)
        receiveBuffer.attach(to: pool)
    }

    /// Bytes of buffer storage this connection holds now (chunks of its send and receive rings).
    public var bufferBytesHeld: Int { sendBuffer.bytesHeld + receiveBuffer.bytesHeld }

    // MARK: Application interface

    /// The largest window this connection may offer now: the receive buffer's size without auto-tuning,
    /// otherwise the auto-tuned limit (bytes held unread count against it).
    public var receiveWindowLimit: Int { receiver.window.limit }

    /// The window that could be offered now: the room left under the window limit, less what the
    /// receive ring (and the node's buffer pool behind it) cannot store.
    var receiveWindowAvailable: Int {
        Swift.min(receiveBuffer.freeSpace, Swift.max(0, receiver.window.limit - receiveBuffer.count))
    }

    /// Bytes ready to be read.
    public var readableBytes: Int { receiveBuffer.count }

    /// True once the peer's FIN was received and every byte before it has been read (end of stream).
    public var isAtEndOfStream: Bool { finReceived && receiveBuffer.isEmpty }

    /// Bytes `write` would accept now (0 once the sending side is shut down or the connection ended).
    public var writableBytes: Int {
        guard !finQueued, error == nil else { return 0 }
        switch state {
        case .synSent, .synReceived, .established, .closeWait: return sendBuffer.freeSpace
        default: return 0
        }
    }

    /// Bytes written but not yet acknowledged by the peer.
    public var unacknowledgedBytes: Int { sendBuffer.count }

    /// Congestion window in bytes (RFC 5681).
    public var congestionWindow: Int { sender.cwnd }

    /// Whether SACK (RFC 2018) was negotiated.
    public var selectiveAcknowledgmentsEnabled: Bool { sender.sackEnabled }

    /// Current retransmission timeout including backoff, nanoseconds (RFC 6298).
    public var retransmissionTimeout: Int64 { rto.current }

    /// Smoothed RTT in nanoseconds, once measured (RFC 6298).
    public var smoothedRTT: Int64? { rto.smoothedRTT }

    /// Queues bytes for sending (RFC 9293 §3.10.2 SEND). Returns how many were accepted: fewer than
    /// offered when the send buffer is full (backpressure); 0 after `shutdownWrite()`/`close()`.
    public mutating func write(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard writableBytes > 0 else { return 0 }
        return sendBuffer.append(bytes)
    }

    /// Reads received bytes in order (RFC 9293 §3.10.3 RECEIVE). Returns 0 when nothing is buffered;
    /// check `isAtEndOfStream` to tell end of stream from "nothing yet".
    public mutating func read(into destination: UnsafeMutableRawBufferPointer) -> Int {
        let n = receiveBuffer.read(into: destination)
        if n > 0 { noteWindowOpened() }
        return n
    }

    /// Reads received bytes in place: `body` sees contiguous regions (one per buffer chunk) and returns
    /// how many bytes of each it consumed; a region not used up ends the read.
    public mutating func read(_ body: (UnsafeRawBufferPointer) -> Int) -> Int {
        let n = receiveBuffer.consumeContiguous(body)
        if n > 0 { noteWindowOpened() }
        return n
    }

    /// After the application read data: send a window update only when the window the peer knows of
    /// has become small against what could be offered now — the new window is at least twice the
    /// advertised one left, and grew by 2·MSS or half the buffer (RFC 9293 §3.8.6.2.2 receiver-side SWS
    /// avoidance; RFC 1122 §4.2.3.3; Linux `tcp_cleanup_rbuf`). Other window growth rides on the ACKs
    /// the data produces anyway, so a reader does not cost the sender an extra packet per read.
    mutating func noteWindowOpened() {
        guard state.acceptsData else { return }
        let potentialWindow = receiveWindowAvailable
        let advertised = receive.window
        let growth = potentialWindow - advertised
        let threshold = Swift.min(receiver.window.limit / 2, 2 * configuration.maxSegmentSize)
        if growth >= threshold && potentialWindow >= 2 * advertised {
            ackNow = true
        } else if advertised < effectiveMSS && growth >= effectiveMSS {
            ackNow = true
        }
    }

    /// Shuts down the sending side: a FIN follows the data already written (RFC 9293 §3.10.4 CLOSE as a
    /// half-close). Reading continues until the peer's FIN.
    public mutating func shutdownWrite() {
        guard !finQueued else { return }
        switch state {
        case .established:
            finQueued = true
            state = .finWait1
        case .closeWait:
            finQueued = true
            state = .lastAck
        case .synSent, .synReceived:
            // RFC 9293 §3.10.4: queued until the connection is established.
            finQueued = true
        default:
            break
        }
    }

    /// Closes the connection: no more writes or reads. Unread received data makes this an abort with
    /// RST (RFC 1122 §4.2.2.13); otherwise a FIN is sent after pending data (RFC 9293 §3.10.4).
    public mutating func close(now: NetInstant) -> TCPConnectionEvents {
        closedByApplication = true
        switch state {
        case .closed, .listen:
            return []
        case .synSent:
            // RFC 9293 §3.10.4 SYN-SENT: delete the TCB.
            enterClosed(error: nil)
            return .closed
        default:
            break
        }
        if !receiveBuffer.isEmpty { return abort() }
        shutdownWrite()
        if state == .finWait2 { closeDeadline = now + configuration.finWait2Timeout }
        return []
    }

    /// Aborts the connection (RFC 9293 §3.10.5 ABORT): sends <SEQ=SND.NXT><CTL=RST> if synchronized.
    public mutating func abort() -> TCPConnectionEvents {
        switch state {
        case .closed, .listen:
            return []
        case .synSent:
            break
        default:
            pendingReset = TCPSegmentHeader(seq: send.nxt, control: .rst)
        }
        enterClosed(error: .aborted)
        return .closed
    }

    mutating func enterClosed(error: TCPConnectionError?) {
        state = .closed
        if self.error == nil { self.error = error }
        retransmitDeadline = nil
        receiver.ackPolicy.cancel()
        keepaliveDeadline = nil
        closeDeadline = nil
        ackNow = false
        immediateAckDue = false
        sender.retransmitHeadDue = false
        sender.cancelTailLossProbe()
        probeDue = false
        keepaliveDue = false
    }

    // MARK: Deadlines

    /// When `handleTimers(now:)` must next be called; nil when no timer runs.
    public var nextDeadline: NetInstant? {
        guard state != .closed else { return nil }
        return earliest(
            earliest(
                earliest(retransmitDeadline, sender.probeDeadline),
                earliest(sender.reorderingDeadline, receiver.ackPolicy.deadline)),
            earliest(earliest(keepaliveDeadline, closeDeadline), sender.pacingDeadline))
    }

    /// True when `nextSegment(now:)` would return something.
    public var hasPendingOutput: Bool {
        pendingReset != nil || ackNow || sender.retransmitHeadDue || sender.tailLossProbeDue || probeDue || keepaliveDue
            || sender.rack.firstLost != nil
            || (state != .closed && wouldSendNewSegment)
    }

    mutating func resetKeepalive(now: NetInstant) {
        keepaliveProbesSent = 0
        if let keepalive = configuration.keepalive {
            keepaliveDeadline = now + keepalive.idle
        }
    }

    /// The TSval for a segment sent at `now` (RFC 7323 §5.4: a millisecond clock plus a random offset).
    @inline(__always)
    func timestampValue(now: NetInstant) -> UInt32 {
        UInt32(truncatingIfNeeded: now.milliseconds) &+ timestampOffset
    }

    /// Copies the payload of an outgoing `segment` (as returned by `nextSegment(now:)`) into
    /// `destination`. Returns the bytes copied (== `segment.payloadLength` when `destination` is large
    /// enough).
    public func copyPayload(of segment: TCPSegmentHeader, into destination: UnsafeMutableRawBufferPointer) -> Int {
        guard segment.payloadLength > 0 else { return 0 }
        let offset = segment.seq - sendBufferStart
        guard offset >= 0 else { return 0 }
        let target = UnsafeMutableRawBufferPointer(rebasing: destination.prefix(segment.payloadLength))
        return sendBuffer.peek(atOffset: offset, into: target)
    }

    /// Passes the payload of an outgoing `segment` (as returned by `nextSegment(now:)`) to `body` where
    /// it lies in the send buffer, region by region (one per buffer chunk it touches), without copying.
    /// Returns the bytes passed (== `segment.payloadLength` unless the payload is no longer buffered).
    /// The regions stay valid until the send buffer releases their chunks (see
    /// `ByteRing.forEachRegion(atOffset:count:_:)`).
    @discardableResult
    public func forEachPayloadRegion(of segment: TCPSegmentHeader, _ body: (UnsafeRawBufferPointer) -> Void) -> Int {
        guard segment.payloadLength > 0 else { return 0 }
        let offset = segment.seq - sendBufferStart
        guard offset >= 0 else { return 0 }
        return sendBuffer.forEachRegion(atOffset: offset, count: segment.payloadLength, body)
    }
}
