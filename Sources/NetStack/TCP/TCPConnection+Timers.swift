import Wire

/// Timer expiry: retransmission (RFC 6298 §5), persist (RFC 9293 §3.8.6.1), delayed ACK
/// (RFC 9293 §3.8.6.3), keepalive (RFC 1122 §4.2.3.6), TIME-WAIT (RFC 9293 §3.10.8) and the
/// FIN-WAIT-2 timeout.
extension TCPConnection {
    /// Runs every timer whose deadline is at or before `now`.
    public mutating func handleTimers(now: NetInstant) -> TCPConnectionEvents {
        guard state != .closed else { return [] }
        var events: TCPConnectionEvents = []
        if let deadline = closeDeadline, deadline <= now {
            closeDeadline = nil
            if state == .timeWait || state == .finWait2 {
                enterClosed(error: nil)
                return .closed
            }
        }
        if let deadline = retransmitDeadline, deadline <= now {
            retransmitDeadline = nil
            events.formUnion(retransmitTimerExpired(now: now))
            if state == .closed { return events }
        }
        if sender.probeTimerExpired(now: now) {
            // RFC 8985 §7.3: after sending the probe, the RTO (not the PTO) is armed.
            retransmitDeadline = now + rto.current
        }
        // The pacing timer: the output path sends what waited for it.
        _ = sender.pacingTimerExpired(now: now)
        // RFC 8985 §6.3: the reordering timer; what it marks lost is resent by the output path.
        _ = sender.reorderingTimerExpired(now: now, smoothedRTT: rto.smoothedRTT, una: send.una, sndMax: send.max)
        retransmissions.fastRecoveries = sender.recoveries
        if receiver.ackPolicy.timerExpired(now: now) {
            ackNow = true
        }
        if let deadline = keepaliveDeadline, deadline <= now, let keepalive = configuration.keepalive {
            switch state {
            case .established, .closeWait, .finWait1, .finWait2:
                if keepaliveProbesSent >= keepalive.count {
                    enterClosed(error: .timedOut)
                    return events.union(.closed)
                }
                keepaliveProbesSent += 1
                keepaliveDue = true
                keepaliveDeadline = now + keepalive.interval
            default:
                keepaliveDeadline = now + keepalive.idle
            }
        }
        return events
    }

    /// The peer's window is zero while we have something to send: the timer runs as the persist timer.
    var inPersistMode: Bool {
        guard state.isSynchronized, send.window == 0 else { return false }
        let dataEnd = sendBufferStart + sendBuffer.count
        return send.una < dataEnd || (finQueued && send.una <= dataEnd)
    }

    /// RFC 6298 §5.1: the timer runs whenever data is outstanding; it also runs as the persist timer
    /// when the peer's window is closed and data waits.
    mutating func armRetransmitTimerIfNeeded(now: NetInstant) {
        guard retransmitDeadline == nil else { return }
        if send.max - send.una > 0 || inPersistMode {
            retransmitDeadline = now + rto.current
        }
    }

    private mutating func retransmitTimerExpired(now: NetInstant) -> TCPConnectionEvents {
        switch state {
        case .synSent, .synReceived:
            // RFC 9293 §3.8.3: give up on the open after the SYN retry limit.
            guard retransmitCount < configuration.maxSynRetransmissions else {
                if state == .synReceived { pendingReset = TCPSegmentHeader(seq: send.nxt, control: .rst) }
                enterClosed(error: .timedOut)
                return .closed
            }
            retransmitCount += 1
            rttTimedSequence = nil  // Karn's rule
            rto.backOff()
            send.nxt = send.iss
            retransmitDeadline = now + rto.current
            return []
        case .closed, .listen, .timeWait:
            return []
        default:
            break
        }
        let outstanding = send.max - send.una
        if inPersistMode {
            // RFC 9293 §3.8.6.1: probe the closed window, backing off like the RTO. The connection stays
            // open while the peer answers (any ACK resets the count in `acknowledge`/window updates).
            guard retransmitCount < configuration.maxRetransmissions else {
                enterClosed(error: .timedOut)
                return .closed
            }
            retransmitCount += 1
            rto.backOff()
            probeDue = true
            retransmitDeadline = now + rto.current
            return []
        }
        guard outstanding > 0 else { return [] }
        // RFC 9293 §3.8.3 R2: too many retransmissions end the connection.
        guard retransmitCount < configuration.maxRetransmissions else {
            enterClosed(error: .timedOut)
            return .closed
        }
        retransmitCount += 1
        // RFC 5681 §3.1 eq. 4 and the loss window; RFC 6298 §5.5 backoff; Karn's rule.
        sender.onRetransmissionTimeout(una: send.una, sndMax: send.max, consecutive: retransmitCount, now: now)
        retransmissions.retransmissionTimeouts += 1
        rto.backOff()
        rttTimedSequence = nil
        // Go back N: resend from SND.UNA; ACKs up to SND.MAX remain acceptable.
        send.nxt = send.una
        retransmitDeadline = now + rto.current
        return []
    }
}
