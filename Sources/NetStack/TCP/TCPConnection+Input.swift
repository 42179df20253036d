import Wire

/// Segment arrival (RFC 9293 §3.10.7, "SEGMENT ARRIVES"), with the RFC 5961 protections and RFC 7323
/// PAWS. Each step below names the rule it implements.
extension TCPConnection {
    /// Processes one incoming segment addressed to this connection. `payload` holds the segment's data
    /// (`header.payloadLength` bytes) and is only read during the call.
    public mutating func handle(
        _ segment: TCPSegmentHeader, payload: UnsafeRawBufferPointer, now: NetInstant
    ) -> TCPConnectionEvents {
        switch state {
        case .closed, .listen:
            return []
        case .synSent:
            return handleInSynSent(segment, now: now)
        default:
            return handleInSynchronizedOrSynReceived(segment, payload: payload, now: now)
        }
    }

    // MARK: SYN-SENT (RFC 9293 §3.10.7.3)

    private mutating func handleInSynSent(_ seg: TCPSegmentHeader, now: NetInstant) -> TCPConnectionEvents {
        let ctl = seg.control
        // First, check the ACK bit: SEG.ACK =< ISS or SEG.ACK > SND.NXT is unacceptable.
        if ctl.contains(.ack) {
            if seg.ack <= send.iss || seg.ack > send.max {
                if !ctl.contains(.rst) {
                    pendingReset = TCPSegmentHeader(seq: seg.ack, control: .rst)
                }
                return []
            }
        }
        // Second, check the RST bit: with an acceptable ACK the connection is refused; without ACK, drop
        // (RFC 5961 §3.2 keeps this rule for SYN-SENT).
        if ctl.contains(.rst) {
            guard ctl.contains(.ack) else { return [] }
            enterClosed(error: .connectionRefused)
            return .closed
        }
        // Fourth, check the SYN bit.
        guard ctl.contains(.syn) else { return [] }
        acceptPeerSyn(seg, now: now)
        if ctl.contains(.ack) {
            let events = acknowledge(upTo: seg.ack, segment: seg, now: now)
            // RFC 7323 §2.2: the SYN's window is unscaled (set by acceptPeerSyn).
            send.wl1 = seg.seq
            send.wl2 = seg.ack
            state = .established
            if finQueued { state = .finWait1 }
            ackNow = true
            return events.union(.established)
        }
        // Simultaneous open: enter SYN-RECEIVED and send <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
        state = .synReceived
        send.nxt = send.iss
        return []
    }

    // MARK: Other states (RFC 9293 §3.10.7.4)

    private mutating func handleInSynchronizedOrSynReceived(
        _ seg: TCPSegmentHeader, payload: UnsafeRawBufferPointer, now: NetInstant
    ) -> TCPConnectionEvents {
        let ctl = seg.control
        var events: TCPConnectionEvents = []

        // A retransmitted SYN in SYN-RECEIVED: answer it with the SYN,ACK again (as Linux and BSD do)
        // instead of a bare ACK that a peer in SYN-SENT would drop.
        if state == .synReceived, ctl.contains(.syn), !ctl.contains(.ack), !ctl.contains(.rst),
            seg.seq == receive.irs
        {
            send.nxt = send.iss
            return []
        }

        // RFC 7323 §5.3 R1 (PAWS): a segment whose TSval is older than TS.Recent is a duplicate —
        // unless TS.Recent has been idle for more than 24 days and is no longer valid (§5.5).
        if timestampsEnabled, !ctl.contains(.rst), let ts = seg.timestamps,
            Int32(bitPattern: ts.value &- tsRecent) < 0, now - tsRecentStamp <= Self.tsRecentLifetime
        {
            replyToUnacceptable(seg, now: now)
            // RFC 2883 §4: data below RCV.NXT that PAWS drops is a duplicate too (the original of a
            // segment whose retransmission arrived first, as with reordering): report it in a D-SACK,
            // at once, as Linux's tcp_send_dupack, so that the sender can undo a spurious recovery.
            if seg.payloadLength > 0 && seg.seq < receive.nxt {
                let length = Swift.min(seg.payloadLength, receive.nxt - seg.seq)
                receiver.receiveDuplicate(seq: seg.seq, length: length)
                immediateAckDue = ackNow
            }
            return []
        }

        // First, check the sequence number (the four acceptability cases).
        let segLen = seg.sequenceLength
        // RCV.WND: what was advertised, or what could be offered now if more (never more than the
        // window limit: a zero-window probe past it is not taken in).
        let rcvWnd = Swift.max(receive.window, receiveWindowAvailable)
        var acceptable: Bool
        if segLen == 0 {
            acceptable = rcvWnd == 0 ? seg.seq == receive.nxt : inWindow(seg.seq, rcvWnd)
        } else {
            acceptable = rcvWnd > 0 && (inWindow(seg.seq, rcvWnd) || inWindow(seg.seq + (segLen - 1), rcvWnd))
        }
        // "If the RCV.WND is zero ... special allowance should be made to accept valid ACKs, URGs, and
        // RSTs": process the control part of a segment at RCV.NXT and drop its text.
        var textAllowed = true
        if !acceptable && rcvWnd == 0 && seg.seq == receive.nxt {
            acceptable = true
            textAllowed = false
            ackNow = true
        }
        guard acceptable else {
            if !ctl.contains(.rst) { replyToUnacceptable(seg, now: now) }
            // RFC 2883 §4: data that was already received is reported in a D-SACK block.
            if seg.payloadLength > 0 && seg.seq + seg.payloadLength <= receive.nxt {
                receiver.receiveDuplicate(seq: seg.seq, length: seg.payloadLength)
                immediateAckDue = ackNow  // each duplicate gets its own ACK, as in receiveText
            }
            // A retransmitted FIN in TIME-WAIT restarts the 2 MSL timeout (RFC 9293 §3.10.7.4 eighth).
            if state == .timeWait && ctl.contains(.fin) { closeDeadline = now + configuration.timeWaitDuration }
            return []
        }

        // Second, check the RST bit (RFC 5961 §3.2): exact match resets, in-window gets a challenge ACK.
        if ctl.contains(.rst) {
            // RFC 1337 (TIME-WAIT assassination, fix TW2): ignored in TIME-WAIT, as by the stack's
            // TIME-WAIT records.
            if state == .timeWait { return [] }
            guard seg.seq == receive.nxt else {
                sendChallengeAck(now: now)
                return []
            }
            switch state {
            case .synReceived, .established, .finWait1, .finWait2, .closeWait:
                enterClosed(error: .connectionReset)
            default:
                // CLOSING, LAST-ACK: enter CLOSED without error.
                enterClosed(error: nil)
            }
            return .closed
        }

        // RFC 7323 §4.3 (2): remember TSval if this segment covers Last.ACK.sent.
        if timestampsEnabled, let ts = seg.timestamps, seg.seq <= lastAckSent {
            tsRecent = ts.value
            tsRecentStamp = now
        }

        // Any acceptable segment shows the peer is alive (keepalive, RFC 1122 §4.2.3.6).
        resetKeepalive(now: now)

        // Fourth, check the SYN bit (RFC 5961 §4.2): a SYN in a synchronized state gets a challenge ACK.
        if ctl.contains(.syn) {
            sendChallengeAck(now: now)
            return []
        }

        // Fifth, check the ACK field.
        guard ctl.contains(.ack) else { return [] }
        if state == .synReceived {
            // SND.UNA < SEG.ACK =< SND.NXT moves to ESTABLISHED; otherwise <SEQ=SEG.ACK><CTL=RST>.
            guard send.una < seg.ack, seg.ack <= send.max else {
                pendingReset = TCPSegmentHeader(seq: seg.ack, control: .rst)
                return []
            }
            state = finQueued ? .finWait1 : .established
            events.insert(.established)
            send.window = Int(seg.window) << Int(send.scale)
            send.maxWindow = Swift.max(send.maxWindow, send.window)
            send.wl1 = seg.seq
            send.wl2 = seg.ack
        }
        // RFC 5961 §5.2: acceptable iff (SND.UNA - MAX.SND.WND) =< SEG.ACK =< SND.NXT.
        if seg.ack > send.max {
            ackNow = true  // RFC 9293: ACK for something not yet sent: send an ACK, drop the segment.
            return events
        }
        if seg.ack < send.una - Swift.max(send.maxWindow, 1) {
            ackNow = true  // RFC 5961 §5.2: too old; send an ACK and drop.
            return events
        }
        if send.una < seg.ack {
            events.formUnion(acknowledge(upTo: seg.ack, segment: seg, now: now))
        } else if seg.ack == send.una {
            noteDuplicateAckCandidate(seg, now: now)
        }
        // Update the send window if this segment is newer (SND.WL1 < SEG.SEQ or
        // (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK)).
        if send.wl1 < seg.seq || (send.wl1 == seg.seq && send.wl2 <= seg.ack) {
            let newWindow = Int(seg.window) << Int(send.scale)
            if newWindow > send.window { events.insert(.writable) }
            send.window = newWindow
            send.maxWindow = Swift.max(send.maxWindow, newWindow)
            send.wl1 = seg.seq
            send.wl2 = seg.ack
            armRetransmitTimerIfNeeded(now: now)
        }
        // RFC 1122 §4.2.2.17 / RFC 9293 §3.8.6.1: a peer that answers the zero-window probes may keep
        // its window closed indefinitely: only unanswered probes count towards giving up (as Linux resets
        // icsk_probes_out on every ACK). The probe interval keeps its backoff.
        if inPersistMode { retransmitCount = 0 }
        // State-specific ACK processing.
        let finNowAcked = ourFinAcknowledged
        switch state {
        case .finWait1 where finNowAcked:
            state = .finWait2
            if closedByApplication { closeDeadline = now + configuration.finWait2Timeout }
        case .closing where finNowAcked:
            enterTimeWait(now: now)
        case .lastAck where finNowAcked:
            enterClosed(error: nil)
            return events.union(.closed)
        case .timeWait:
            // The only thing that can arrive is a retransmission of the remote FIN: acknowledge it and
            // restart the 2 MSL timeout.
            if ctl.contains(.fin) {
                ackNow = true
                closeDeadline = now + configuration.timeWaitDuration
            }
            return events
        default:
            break
        }

        // Seventh, process the segment text (ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2).
        if state.acceptsData && textAllowed && seg.payloadLength > 0 {
            if closedByApplication && seg.seq + seg.payloadLength > receive.nxt {
                // Data for a socket the application closed: nobody will read it (RFC 1122 §4.2.2.13,
                // as Linux does: reset the connection).
                pendingReset = TCPSegmentHeader(seq: send.nxt, control: .rst)
                enterClosed(error: .aborted)
                return events.union(.closed)
            }
            events.formUnion(receiveText(seg, payload: payload, now: now))
        }

        // Eighth, check the FIN bit.
        if ctl.contains(.fin) && textAllowed {
            let finOffset = (seg.seq + seg.payloadLength) - receive.nxt
            if finOffset == 0 {
                events.formUnion(processFin(now: now))
            } else if finOffset > 0 && state.acceptsData {
                // Nothing can follow a FIN: keep the lowest one announced.
                pendingFinOffset = Swift.min(pendingFinOffset ?? finOffset, finOffset)
                ackNow = true
            } else {
                ackNow = true  // a retransmitted FIN we already have
            }
        }
        return events
    }

    @inline(__always)
    private func inWindow(_ seq: SequenceNumber, _ window: Int) -> Bool {
        receive.nxt <= seq && seq < receive.nxt + window
    }

    /// Whether our FIN has been sent and acknowledged.
    var ourFinAcknowledged: Bool {
        finQueued && send.una == sendBufferStart + sendBuffer.count + 1
    }

    /// RFC 9293 §3.10.7.4 first: an unacceptable segment is answered with an ACK — at once if it
    /// carries data (a zero-window probe, a retransmission), at most once per `outOfWindowAckInterval`
    /// if it carries none (Linux `tcp_oow_rate_limited`).
    private mutating func replyToUnacceptable(_ seg: TCPSegmentHeader, now: NetInstant) {
        if seg.sequenceLength == 0 {
            if let last = lastOutOfWindowAck, now - last < Self.outOfWindowAckInterval { return }
            lastOutOfWindowAck = now
        }
        ackNow = true
    }

    /// RFC 5961 §7: challenge ACKs are rate-limited.
    mutating func sendChallengeAck(now: NetInstant) {
        if now - challengeAckWindowStart >= 1_000_000_000 {
            challengeAckWindowStart = now
            challengeAcksInWindow = 0
        }
        if challengeAcksInWindow < configuration.challengeAckLimit {
            challengeAcksInWindow += 1
            ackNow = true
        }
    }

    // MARK: ACK of new data

    /// SND.UNA < SEG.ACK =< SND.NXT: advance SND.UNA, free acknowledged bytes, take an RTT sample,
    /// grow the congestion window and manage the retransmission timer (RFC 9293 §3.10.7.4 fifth;
    /// RFC 6298 §5; RFC 5681 §3).
    mutating func acknowledge(upTo ack: SequenceNumber, segment seg: TCPSegmentHeader, now: NetInstant)
        -> TCPConnectionEvents
    {
        var events: TCPConnectionEvents = []
        let acked = ack - send.una
        guard acked > 0 else { return [] }
        // RTT sample: the send time of the newest segment acknowledged (RFC 6298 §3, Karn; at the clock's
        // precision, as Linux does), else the timestamps echo (RFC 7323 §4.1, millisecond ticks), else
        // the one timed segment.
        let precise = sender.roundTripSample(ack: ack, now: now)
        if let sample = precise {
            rto.sample(sample)
        } else if timestampsEnabled, let ts = seg.timestamps, ts.echoReply != 0 || seg.control.contains(.syn) {
            let elapsedMs = Int32(bitPattern: timestampValue(now: now) &- ts.echoReply)
            if elapsedMs >= 0 { rto.sample(Int64(elapsedMs) * 1_000_000) }
        } else if let timed = rttTimedSequence, ack >= timed {
            rto.sample(now - rttTimedAt)
            rttTimedSequence = nil
        }
        // Data bytes acknowledged (the SYN and FIN occupy sequence space but not the buffer).
        let dataAcked = Swift.max(0, Swift.min(ack - sendBufferStart, sendBuffer.count))
        if dataAcked > 0 {
            sendBuffer.consume(dataAcked)
            sendBufferStart += dataAcked
            events.insert(.writable)
        }
        let oldUna = send.una
        send.una = ack
        if send.nxt < ack { send.nxt = ack }
        retransmitCount = 0
        rto.resetBackoff()
        if state.isSynchronized || state == .synReceived {
            sender.onAck(
                ack: ack, oldUna: oldUna, sndMax: send.max, blocks: seg.sackBlocks, isDuplicate: false, now: now,
                rtt: rto.smoothedRTT, canSendNewData: canSendNewData, echoedSendTime: echoedSendTime(seg, now: now),
                rttSample: precise, sndNxt: send.nxt)
            retransmissions.fastRecoveries = sender.recoveries
            applyForwardRTODecision()
        }
        if sender.retransmitHeadDue { rttTimedSequence = nil }
        // RFC 6298 §5.2/5.3: stop the timer when everything is acknowledged, otherwise restart it.
        retransmitDeadline = nil
        armRetransmitTimerIfNeeded(now: now)
        sender.armTailLossProbe(
            now: now, smoothedRTT: rto.smoothedRTT, flight: send.max - send.una, retransmitDeadline: retransmitDeadline)
        return events
    }

    /// An ACK that does not advance SND.UNA: its SACK blocks go to the scoreboard, and it counts as a
    /// duplicate (RFC 5681 §2) if it carries no data, does not change the window, has no SYN/FIN, and
    /// arrives while data is outstanding. With SACK, RFC 6675 §2 counts ACKs that SACK new data instead.
    private mutating func noteDuplicateAckCandidate(_ seg: TCPSegmentHeader, now: NetInstant) {
        let outstanding = send.max - send.una
        guard outstanding > 0, state != .synReceived else { return }
        let isDuplicate = seg.payloadLength == 0 && !seg.control.contains(.syn) && !seg.control.contains(.fin)
            && Int(seg.window) << Int(send.scale) == send.window
        let wasDue = sender.retransmitHeadDue
        sender.onAck(
            ack: seg.ack, oldUna: send.una, sndMax: send.max, blocks: seg.sackBlocks, isDuplicate: isDuplicate,
            now: now, rtt: rto.smoothedRTT, canSendNewData: canSendNewData, echoedSendTime: echoedSendTime(seg, now: now),
            sndNxt: send.nxt)
        retransmissions.fastRecoveries = sender.recoveries
        applyForwardRTODecision()
        if sender.retransmitHeadDue && !wasDue {
            rttTimedSequence = nil  // Karn: the retransmitted segment must not be timed.
        }
    }

    /// When the segment whose TSval `seg` echoes was sent (RFC 7323 §4.1; millisecond ticks), if known.
    private func echoedSendTime(_ seg: TCPSegmentHeader, now: NetInstant) -> NetInstant? {
        guard timestampsEnabled, let ts = seg.timestamps, ts.echoReply != 0 else { return nil }
        let elapsedMs = Int32(bitPattern: timestampValue(now: now) &- ts.echoReply)
        guard elapsedMs >= 0 else { return nil }
        return now + (-Int64(elapsedMs) * 1_000_000)
    }

    /// Unsent data waits and the peer's window has room for it (RFC 5682 §2.1 step 2b's condition).
    private var canSendNewData: Bool {
        sendBufferStart + sendBuffer.count > send.max && send.una + send.window > send.max
    }

    /// RFC 5682 §2.1: after a timeout, F-RTO's steps 2b and 3b stop the go-back-N (new data goes out from
    /// SND.MAX; the rest is not resent); step 3a resumes it from SND.UNA.
    private mutating func applyForwardRTODecision() {
        switch sender.takeForwardRTODecision() {
        case .sendNewData, .spurious:
            send.nxt = send.max
        case .resumeGoBackN:
            send.nxt = send.una
        case .none, .conventional:
            break
        }
    }

    // MARK: Text and FIN

    /// Places in-window data into the receive ring (in order, or held out of order) and decides how to
    /// acknowledge it (RFC 9293 §3.10.7.4 seventh; RFC 5681 §4.2 ACK policy).
    private mutating func receiveText(
        _ seg: TCPSegmentHeader, payload: UnsafeRawBufferPointer, now: NetInstant
    ) -> TCPConnectionEvents {
        var offset = seg.seq - receive.nxt
        var bytes = UnsafeRawBufferPointer(rebasing: payload.prefix(seg.payloadLength))
        if offset < 0 {
            // Trim the part already received.
            let skip = -offset
            guard skip < bytes.count else {
                receiver.receiveDuplicate(seq: seg.seq, length: bytes.count)
                ackNow = true
                immediateAckDue = true  // RFC 5681 §4.2 / RFC 2883 §4: each duplicate gets its ACK
                return []
            }
            receiver.receiveDuplicate(seq: seg.seq, length: skip, entirely: false)
            bytes = UnsafeRawBufferPointer(rebasing: bytes.dropFirst(skip))
            offset = 0
        }
        // RFC 9293 §3.10.7.4 eighth: nothing follows a FIN. Once an out-of-order FIN is known, text past
        // it is dropped, not stored, reported in SACK blocks or delivered.
        if let fin = pendingFinOffset {
            guard offset < fin else {
                ackNow = true
                return []
            }
            if bytes.count > fin - offset { bytes = UnsafeRawBufferPointer(rebasing: bytes.prefix(fin - offset)) }
        }
        // Trim to the space the ring has and the node's buffer pool can back now: in-window text it
        // cannot store is dropped and acknowledged as not received, so the sender retransmits it.
        let room = receiveBuffer.reserve(atOffset: offset, count: bytes.count)
        // Chunks reserved past the last byte held (refused or trimmed text) go back to the pool.
        defer { receiveBuffer.discard(beyondOffset: receiver.reassembly.highestEnd) }
        guard room > 0 else {
            ackNow = true
            return []
        }
        if bytes.count > room { bytes = UnsafeRawBufferPointer(rebasing: bytes.prefix(room)) }
        let heldOutOfOrder = !receiver.reassembly.isEmpty
        let arrival = receiver.receive(
            seq: receive.nxt + offset, offset: offset, length: bytes.count, rcvNxt: receive.nxt, now: now,
            rtt: receiverRTT, rto: rto.current)
        guard case .stored(let ready, let ackDue) = arrival else {
            ackNow = true  // nothing new, or no room to track it: the sender will retransmit
            immediateAckDue = true
            return []
        }
        // RFC 5681 §4.2: out-of-order data and data that fills a hole are acknowledged at once — one
        // ACK per such segment, even when the caller hands over a batch of segments before it asks for
        // output: a sender counts duplicate ACKs and reads SACK blocks per arriving ACK (RFC 6675), as
        // Linux acknowledges every out-of-order segment it does not compress (`SACKCompression`:
        // from the fourth at one RCV.NXT on, the ACK is held instead, and goes out with later output).
        if ackDue && (offset > 0 || heldOutOfOrder) { immediateAckDue = true }
        receiveBuffer.write(bytes, atOffset: offset)
        var events: TCPConnectionEvents = []
        if ready > 0 {
            // Text held past the FIN from before the FIN was known is not delivered.
            let delivered = pendingFinOffset.map { Swift.min(ready, $0) } ?? ready
            receiveBuffer.commit(delivered)
            receive.nxt += delivered
            events.insert(.readable)
            if let fin = pendingFinOffset {
                pendingFinOffset = fin - delivered
            }
            tuneReceiveWindow(now: now)
        }
        if ackDue { ackNow = true }
        if pendingFinOffset == 0 {
            pendingFinOffset = nil
            // As Linux's tcp_fin purges the out-of-order queue: whatever is held past the FIN is dropped.
            receiver.removeAll()
            events.formUnion(processFin(now: now))
        }
        return events
    }

    /// The RTT the receiver's ACK policy works with (Linux `__tcp_ack_snd_check`): its own estimate
    /// (receive-window auto-tuning's), or the smoothed RTT when that is smaller or the only one.
    private var receiverRTT: Int64? {
        let own = receiver.window.rtt > 0 ? receiver.window.rtt : nil
        guard let srtt = rto.smoothedRTT, srtt > 0 else { return own }
        return Swift.min(own ?? srtt, srtt)
    }

    /// RCV.NXT moved: time the receiver's RTT and, once per such RTT, let the window limit follow what
    /// the application consumed (`ReceiveWindowTuner`; Linux `tcp_rcv_space_adjust`).
    private mutating func tuneReceiveWindow(now: NetInstant) {
        guard receiver.window.enabled else { return }
        receiver.window.dataArrived(rcvNxt: receive.nxt, advertisedEdge: receive.advertisedEdge, now: now)
        _ = receiver.window.adjust(
            consumed: receive.nxt - receiveBuffer.count, now: now, fallbackRTT: rto.smoothedRTT,
            poolRoom: receiveBuffer.poolRoom)
    }

    /// The peer's FIN is next in sequence (RFC 9293 §3.10.7.4 eighth).
    private mutating func processFin(now: NetInstant) -> TCPConnectionEvents {
        guard !finReceived else {
            ackNow = true
            return []
        }
        finReceived = true
        pendingFinOffset = nil
        receive.nxt += 1
        ackNow = true
        switch state {
        case .synReceived, .established:
            state = .closeWait
        case .finWait1:
            // Our FIN acknowledged (handled above) would already have moved us to FIN-WAIT-2.
            state = .closing
        case .finWait2:
            enterTimeWait(now: now)
        default:
            break
        }
        return .readable
    }

    mutating func enterTimeWait(now: NetInstant) {
        state = .timeWait
        retransmitDeadline = nil
        keepaliveDeadline = nil
        receiver.ackPolicy.cancel()
        closeDeadline = now + configuration.timeWaitDuration
    }

    /// A new SYN may reopen a connection in TIME-WAIT if its sequence number is beyond RCV.NXT
    /// (RFC 9293 §3.10.7.4 note on TIME-WAIT; RFC 6191 with timestamps).
    public func acceptsNewConnection(from syn: TCPSegmentHeader) -> Bool {
        guard state == .timeWait, syn.control.contains(.syn), !syn.control.contains(.ack) else { return false }
        if timestampsEnabled, let ts = syn.timestamps {
            return Int32(bitPattern: ts.value &- tsRecent) > 0
        }
        return syn.seq > receive.nxt
    }
}
