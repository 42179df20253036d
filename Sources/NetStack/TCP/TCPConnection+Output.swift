import Wire

/// Segment generation: what to send now, in priority order (RST, SYN, fast retransmission, data/FIN,
/// zero-window probe, keepalive, pure ACK).
extension TCPConnection {
    /// The next segment to transmit at `now`, or nil when nothing is due. Call repeatedly until nil;
    /// for segments with `payloadLength > 0`, copy the bytes with `copyPayload(of:into:)` before calling
    /// again.
    public mutating func nextSegment(now: NetInstant) -> TCPSegmentHeader? {
        guard var segment = nextSegmentWithoutSACK(now: now) else { return nil }
        if segment.control.contains(.ack) && !segment.control.contains(.syn) && !segment.control.contains(.rst) {
            attachSACKBlocks(to: &segment)
        }
        return segment
    }

    /// RFC 2018 §4: SACK blocks on every ACK while data is held out of order, as many as fit in the
    /// option space (3 with timestamps) and in the MSS next to the payload (RFC 9293 §3.7.1).
    private mutating func attachSACKBlocks(to segment: inout TCPSegmentHeader) {
        let optionRoom = effectiveMSS - segment.payloadLength
        let fit = Swift.min(timestampsEnabled ? 3 : 4, Swift.max(0, (optionRoom - 4) / 8))
        segment.sackBlocks = receiver.sackBlocksForAck(rcvNxt: receive.nxt, limit: fit)
    }

    /// The ACK the last processed segment owes at once (out-of-order data, a filled hole, a duplicate),
    /// or nil. A caller that hands over several received segments before draining `nextSegment(now:)`
    /// calls this after each one, so that every such segment gets its own ACK with the SACK blocks of
    /// that moment (RFC 5681 §4.2, RFC 2018 §4) rather than one ACK for the whole batch.
    public mutating func nextImmediateAck(now: NetInstant) -> TCPSegmentHeader? {
        guard immediateAckDue else { return nil }
        immediateAckDue = false
        guard ackNow, pendingReset == nil, state.isSynchronized else { return nil }
        var segment = pureAck(now: now)
        attachSACKBlocks(to: &segment)
        return segment
    }

    private mutating func nextSegmentWithoutSACK(now: NetInstant) -> TCPSegmentHeader? {
        if let reset = pendingReset {
            pendingReset = nil
            return reset
        }
        switch state {
        case .closed, .listen:
            return nil
        case .synSent, .synReceived:
            if send.nxt == send.iss { return synSegment(now: now) }
            if state == .synReceived && ackNow { return pureAck(now: now) }
            // Simultaneous open already answered; anything else waits for the handshake.
            return nil
        default:
            break
        }
        if sender.retransmitHeadDue {
            sender.retransmitHeadDue = false
            if let segment = retransmissionOfHead(now: now) { return segment }
        }
        // A pacing policy spaces loss-recovery retransmissions and new data (the pacing timer resumes
        // them); the retransmission at SND.UNA, probes and ACKs are not held.
        let paced = sender.pacingAllows(now: now)
        if paced, let segment = lossRecoveryRetransmission(now: now) { return segment }
        if sender.tailLossProbeDue {
            sender.tailLossProbeDue = false
            if let segment = tailLossProbe(now: now) { return segment }
        }
        if paced, state != .timeWait, let segment = newDataSegment(now: now) { return segment }
        if paced { noteApplicationLimitedIfIdle() }
        if probeDue {
            probeDue = false
            if let segment = zeroWindowProbe(now: now) { return segment }
        }
        if keepaliveDue {
            keepaliveDue = false
            // RFC 1122 §4.2.3.6: <SEQ=SND.NXT-1> with no data elicits an ACK from a live peer.
            var segment = header(seq: send.nxt - 1, control: .ack, now: now)
            segment.payloadLength = 0
            return segment
        }
        if ackNow || (receiver.ackPolicy.deadline.map { $0 <= now } ?? false) {
            return pureAck(now: now)
        }
        // Nothing more to send: make sure a closed peer window is probed (RFC 9293 §3.8.6.1).
        armRetransmitTimerIfNeeded(now: now)
        return nil
    }

    /// A header with ACK, window and timestamps filled in, and the ACK obligations cleared.
    mutating func header(seq: SequenceNumber, control: TCPControlBits, now: NetInstant) -> TCPSegmentHeader {
        var segment = TCPSegmentHeader(seq: seq, ack: receive.nxt, control: control)
        segment.window = windowField()
        if timestampsEnabled {
            segment.timestamps = TCPTimestamps(value: timestampValue(now: now), echoReply: tsRecent)
        }
        if control.contains(.ack) {
            lastAckSent = receive.nxt
            ackNow = false
            immediateAckDue = false
            receiver.ackPolicy.ackSent()
        }
        return segment
    }

    /// A segment with no data: its sequence number must be acceptable to the peer even after a
    /// zero-window probe moved SND.NXT past the peer's window, or the peer answers it with an ACK of
    /// its own (RFC 9293 §3.10.7.4 first) — two stalled ends would then trade ACKs forever. As Linux's
    /// `tcp_acceptable_seq`: SND.NXT, or the right edge of the peer's window if SND.NXT is beyond it.
    private mutating func pureAck(now: NetInstant) -> TCPSegmentHeader {
        let windowEnd = send.una + send.window
        let seq = state.isSynchronized && windowEnd < send.nxt ? windowEnd : send.nxt
        return header(seq: seq, control: .ack, now: now)
    }

    /// The window field to advertise (RFC 9293 §3.8.6.2.2 receiver SWS avoidance; RFC 7323 §2.3
    /// scaling; the right edge never moves left, RFC 9293 §3.8.6.2.2 / RFC 7323 §2.4).
    mutating func windowField() -> UInt16 {
        let scale = Int(receive.scale)
        let free = receiveWindowAvailable
        let potentialEdge = receive.nxt + free
        // Only move the right edge by at least min(window limit/2, MSS).
        let threshold = Swift.min(receiver.window.limit / 2, configuration.maxSegmentSize)
        var edge = receive.advertisedEdge
        if potentialEdge - edge >= threshold || edge < receive.nxt {
            edge = SequenceNumber.max(edge, potentialEdge)
        }
        var window = Swift.max(0, edge - receive.nxt)
        // Scale, rounding up so the advertised edge does not move left.
        var field = (window + (1 << scale) - 1) >> scale
        if field > 65535 { field = 65535 }
        window = field << scale
        receive.advertisedEdge = SequenceNumber.max(receive.advertisedEdge, receive.nxt + window)
        return UInt16(field)
    }

    /// SYN (SYN-SENT) or SYN,ACK (SYN-RECEIVED) with our options (RFC 9293 §3.10.7.2/3; RFC 7323 §2.2,
    /// §3.2: window scale and timestamps only on a SYN,ACK if the SYN carried them).
    private mutating func synSegment(now: NetInstant) -> TCPSegmentHeader {
        let isSynAck = state == .synReceived
        var segment = isSynAck
            ? header(seq: send.iss, control: [.syn, .ack], now: now)
            : TCPSegmentHeader(seq: send.iss, control: .syn)
        // RFC 7323 §2.2: the window field of a SYN is never scaled.
        segment.window = UInt16(Swift.min(receiveWindowAvailable, 65535))
        receive.advertisedEdge = receive.nxt + Int(segment.window)
        segment.maxSegmentSize = UInt16(clamping: configuration.maxSegmentSize)
        if isSynAck {
            // RFC 2018 §2: SACK-permitted on a SYN,ACK only if the SYN carried it.
            segment.sackPermitted = receiver.sackEnabled
            if wantsWindowScale && peerSentWindowScale {
                segment.windowScale = receive.scale
            }
            if timestampsEnabled {
                segment.timestamps = TCPTimestamps(value: timestampValue(now: now), echoReply: tsRecent)
            }
        } else {
            segment.sackPermitted = configuration.selectiveAcknowledgments
            if wantsWindowScale { segment.windowScale = receive.scale }
            if configuration.timestamps {
                segment.timestamps = TCPTimestamps(value: timestampValue(now: now), echoReply: 0)
            }
        }
        if send.max != send.iss { retransmissions.timeout += 1 }
        if send.max == send.iss {
            // First transmission of the SYN: time it (RFC 6298 §3; Karn's rule cancels this on retransmit).
            rttTimedSequence = send.iss + 1
            rttTimedAt = now
        }
        send.nxt = send.iss + 1
        send.max = SequenceNumber.max(send.max, send.nxt)
        if retransmitDeadline == nil { retransmitDeadline = now + rto.current }
        return segment
    }

    /// One segment starting at SND.UNA, for fast retransmit and NewReno partial ACKs
    /// (RFC 5681 §3.2 step 2; RFC 6582 §3.2 step 3). SND.NXT is left alone.
    private mutating func retransmissionOfHead(now: NetInstant) -> TCPSegmentHeader? {
        let outstanding = send.max - send.una
        guard outstanding > 0 else { return nil }
        let dataEnd = sendBufferStart + sendBuffer.count
        let dataAvailable = Swift.max(0, dataEnd - send.una)
        let length = Swift.min(effectiveMSS, dataAvailable, outstanding)
        var control: TCPControlBits = .ack
        // Include the FIN if it was sent and directly follows this data.
        if finQueued && send.una + length == dataEnd && send.max > dataEnd { control.insert(.fin) }
        guard length > 0 || control.contains(.fin) else { return nil }
        var segment = header(seq: send.una, control: control, now: now)
        segment.payloadLength = length
        sender.didRetransmit(seq: send.una, length: length, sndMax: send.max, now: now, outstanding: send.max - send.una)
        sender.didTransmit(bytes: length, now: now)
        retransmissions.fastRetransmit += 1
        if retransmitDeadline == nil { retransmitDeadline = now + rto.current }
        sender.armRecoveryProbe(now: now, smoothedRTT: rto.smoothedRTT, retransmitDeadline: retransmitDeadline)
        return segment
    }

    /// RFC 6675 §5 step (C): in SACK recovery, while cwnd − pipe ≥ 1 SMSS, resend the next lost range
    /// (NextSeg() rule 1). New data (rule 2) is sent by `newDataSegment` under the same limit.
    private mutating func lossRecoveryRetransmission(now: NetInstant) -> TCPSegmentHeader? {
        guard sender.congestionRoom(una: send.una, sndNxt: send.nxt, sndMax: send.max) >= effectiveMSS,
            let (seq, length) = sender.nextRetransmission(una: send.una, sndMax: send.max)
        else { return nil }
        let dataEnd = sendBufferStart + sendBuffer.count
        let dataLength = Swift.max(0, Swift.min(length, dataEnd - seq))
        var control: TCPControlBits = .ack
        if finQueued && seq + dataLength == dataEnd && send.max > dataEnd { control.insert(.fin) }
        guard dataLength > 0 || control.contains(.fin) else { return nil }
        var segment = header(seq: seq, control: control, now: now)
        segment.payloadLength = dataLength
        sender.didRetransmit(
            seq: seq, length: dataLength + (control.contains(.fin) ? 1 : 0), sndMax: send.max, now: now,
            outstanding: send.max - send.una)
        sender.didTransmit(bytes: dataLength, now: now)
        retransmissions.lossRecovery += 1
        if retransmitDeadline == nil { retransmitDeadline = now + rto.current }
        if seq == send.una {
            // The head resent by this path (a RACK-marked loss) is guarded like a fast retransmit: if it
            // is lost again while nothing sent later is delivered, RACK cannot see it.
            sender.armRecoveryProbe(now: now, smoothedRTT: rto.smoothedRTT, retransmitDeadline: retransmitDeadline)
        }
        return segment
    }

    /// Nothing new to send although the congestion window has room: the application, not the path,
    /// limits the rate (draft-cheng-iccrg-delivery-rate-estimation §3.4), as Linux's
    /// `tcp_rate_check_app_limited`.
    private mutating func noteApplicationLimitedIfIdle() {
        guard sender.congestion.usesRateSamples, state.isSynchronized else { return }
        let unsent = sendBufferStart + sendBuffer.count - send.max
        guard unsent < effectiveMSS, send.nxt == send.max, !sender.inRecovery else { return }
        guard sender.congestionRoom(una: send.una, sndNxt: send.nxt, sndMax: send.max) >= effectiveMSS else { return }
        sender.noteApplicationLimited(inFlight: sender.pipe(una: send.una, sndNxt: send.nxt, sndMax: send.max))
    }

    /// Whether `newDataSegment` would produce a segment now.
    var wouldSendNewSegment: Bool {
        guard state.isSynchronized, state != .timeWait else { return false }
        return sendableLength().map { $0.length > 0 || $0.fin } ?? false
    }

    /// How much new data (and whether the FIN) may go out now under the peer's window, the congestion
    /// window, Nagle (RFC 9293 §3.7.4) and sender SWS avoidance (RFC 9293 §3.8.6.2.1).
    private func sendableLength(ignoringCongestionWindow: Bool = false) -> (length: Int, fin: Bool)? {
        let dataEnd = sendBufferStart + sendBuffer.count
        let start = resumePoint
        var available = dataEnd - start.seq
        if let room = start.room { available = Swift.min(available, room) }
        let finPending = finQueued && start.seq <= dataEnd && start.room == nil
        guard available > 0 || finPending else { return nil }
        let inFlight = send.nxt - send.una
        // The peer's window limits by sequence space, the congestion window by what is in the network
        // (RFC 6675 §5: cwnd − pipe).
        let peerRoom = send.window - (start.seq - send.una)
        // RFC 5682 §2.1 step 2b: F-RTO's two new segments go out regardless of the one-segment window.
        let congestionRoom = ignoringCongestionWindow || (sender.forwardRTOMaySendNewData && start.seq == send.max)
            ? effectiveMSS : sender.congestionRoom(una: send.una, sndNxt: send.nxt, sndMax: send.max)
        let usable = Swift.max(0, Swift.min(peerRoom, congestionRoom))
        let length = Swift.max(0, Swift.min(available, usable, effectiveMSS))
        let fin = finPending && start.seq + length == dataEnd
        if length == 0 { return fin ? (0, true) : nil }
        if length >= effectiveMSS || fin || inFlight == 0 { return (length, fin) }
        if length == available {
            // All queued data fits: Nagle (RFC 896, RFC 1122 §4.2.3.4) holds a small segment while an
            // earlier *small* segment is unacknowledged (Minshall's refinement, as Linux's
            // tcp_minshall_check). Plain Nagle would also hold it behind full-sized segments, so the
            // tail of a response longer than one MSS waited for the peer's delayed ACK (up to 40 ms
            // in Linux); a small segment still never leaves while another is in flight.
            return noDelay || !smallSegmentInFlight ? (length, fin) : nil
        }
        // Window-limited: send only if at least half the largest window the peer offered.
        return length * 2 >= send.maxWindow ? (length, fin) : nil
    }

    /// A data segment shorter than the MSS was sent and is not yet acknowledged.
    var smallSegmentInFlight: Bool {
        guard let end = smallSegmentEnd else { return false }
        return end > send.una && end <= send.max
    }

    /// Where the next new (or, after a timeout, resent) segment starts: SND.NXT, moved past data the
    /// peer SACKed while resending after a timeout (RFC 6675 §5.1), and the room before the next SACKed
    /// range (nil: unlimited).
    var resumePoint: (seq: SequenceNumber, room: Int?) {
        guard send.nxt < send.max else { return (send.nxt, nil) }
        let (seq, room) = sender.skipSacked(from: send.nxt)
        if seq >= send.max { return (send.max, nil) }
        return (seq, room)
    }

    /// RFC 8985 §7.3: the probe is one segment of new data if the peer's window allows, otherwise the
    /// last segment sent again; the RTO is re-armed by the caller, not the PTO.
    private mutating func tailLossProbe(now: NetInstant) -> TCPSegmentHeader? {
        guard send.max > send.una else { return nil }
        if send.nxt == send.max, let segment = newDataSegment(now: now, probing: true) { return segment }
        let dataEnd = sendBufferStart + sendBuffer.count
        let finSent = finQueued && send.max > dataEnd
        let dataMax = finSent ? dataEnd : send.max
        let length = Swift.min(effectiveMSS, Swift.max(0, dataMax - send.una))
        let seq = dataMax - length
        var control: TCPControlBits = .ack
        if finSent { control.insert(.fin) }
        guard length > 0 || finSent else { return nil }
        var segment = header(seq: seq, control: control, now: now)
        segment.payloadLength = length
        sender.didRetransmit(
            seq: seq, length: length + (finSent ? 1 : 0), sndMax: send.max, now: now, outstanding: send.max - send.una)
        sender.didTransmit(bytes: length, now: now)
        retransmissions.tailLossProbe += 1
        return segment
    }

    private mutating func newDataSegment(now: NetInstant, probing: Bool = false) -> TCPSegmentHeader? {
        guard let (length, fin) = sendableLength(ignoringCongestionWindow: probing) else { return nil }
        let dataEnd = sendBufferStart + sendBuffer.count
        let start = resumePoint.seq
        if start != send.nxt { send.nxt = start }
        var control: TCPControlBits = .ack
        if length > 0 && send.nxt + length == dataEnd { control.insert(.psh) }
        if fin { control.insert(.fin) }
        var segment = header(seq: send.nxt, control: control, now: now)
        segment.payloadLength = length
        let isNew = send.nxt == send.max
        if isNew {
            sender.didSend(seq: send.nxt, length: length + (fin ? 1 : 0), now: now, outstanding: send.max - send.una)
        } else {
            // Below SND.MAX: the go-back-N after a retransmission timeout.
            sender.didRetransmit(
                seq: send.nxt, length: length + (fin ? 1 : 0), sndMax: send.max, now: now, outstanding: send.max - send.una)
            retransmissions.timeout += 1
        }
        sender.didTransmit(bytes: length, now: now)
        send.nxt += length + (fin ? 1 : 0)
        if length > 0 && length < effectiveMSS { smallSegmentEnd = send.nxt }
        if isNew && !timestampsEnabled && rttTimedSequence == nil {
            rttTimedSequence = send.nxt
            rttTimedAt = now
        }
        send.max = SequenceNumber.max(send.max, send.nxt)
        // RFC 6298 §5.1: start the timer when sending data if it is not running.
        if retransmitDeadline == nil { retransmitDeadline = now + rto.current }
        if isNew && !probing {
            sender.armTailLossProbe(
                now: now, smoothedRTT: rto.smoothedRTT, flight: send.max - send.una, retransmitDeadline: retransmitDeadline)
        }
        return segment
    }

    /// Zero-window probe (RFC 9293 §3.8.6.1): one octet of new data beyond the closed window, or its
    /// retransmission while it is still unacknowledged; a pending FIN alone is sent as-is.
    private mutating func zeroWindowProbe(now: NetInstant) -> TCPSegmentHeader? {
        let dataEnd = sendBufferStart + sendBuffer.count
        if send.nxt == send.una {
            if send.nxt < dataEnd {
                var segment = header(seq: send.nxt, control: .ack, now: now)
                segment.payloadLength = 1
                send.nxt += 1
                send.max = SequenceNumber.max(send.max, send.nxt)
                return segment
            }
            if finQueued && send.nxt == dataEnd {
                let segment = header(seq: send.nxt, control: [.ack, .fin], now: now)
                send.nxt += 1
                send.max = SequenceNumber.max(send.max, send.nxt)
                return segment
            }
            return nil
        }
        // Retransmit the first outstanding octet (or the FIN).
        if send.una < dataEnd {
            var segment = header(seq: send.una, control: .ack, now: now)
            segment.payloadLength = 1
            return segment
        }
        if finQueued { return header(seq: send.una, control: [.ack, .fin], now: now) }
        return nil
    }
}
