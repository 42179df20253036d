import Wire

/// F-RTO (RFC 5682 §2.1): tells a spurious retransmission timeout (a delay spike: the originals were
/// only late) from a real one by what the two ACKs after the timeout acknowledge, instead of resending
/// the whole window by go-back-N.
///
/// After the timeout the sender resends the segment at SND.UNA only (step 1). If the first ACK then
/// advances SND.UNA, two segments of *new* data go out instead of more retransmissions (step 2b); if
/// the next ACK advances SND.UNA again, it acknowledges data that was never resent, so the originals
/// were delivered and the timeout was spurious (step 3b). A duplicate ACK at either step means loss:
/// the conventional go-back-N recovery continues (steps 2a, 3a).
struct ForwardRTO {
    enum Phase: Equatable {
        case idle
        /// Step 1 done: the first ACK after the timeout is awaited. `recover` is SND.MAX at the timeout.
        case awaitingFirstAck(recover: SequenceNumber)
        /// Step 2b done: new data went out; the next ACK decides.
        case awaitingSecondAck
    }

    /// What the sender does after an ACK.
    enum Decision: Equatable {
        /// F-RTO is not running, or has nothing to say about this ACK.
        case none
        /// Step 2b: send up to two new segments (regardless of the one-segment window), no more resends.
        case sendNewData
        /// Step 3b: the timeout was spurious: resend nothing more, undo the window reduction.
        case spurious
        /// Step 2a: the loss was real: the go-back-N already under way continues (conventional recovery).
        case conventional
        /// Step 3a: the loss was real: go back to SND.UNA, past the new data, and resend from there.
        case resumeGoBackN
    }

    /// RFC 5682 §2.1 step 2b: "transmit up to two new (previously unsent) segments".
    static let newSegments = 2

    private(set) var phase = Phase.idle
    /// New segments step 2b may still send past the congestion window.
    private(set) var newSegmentsAllowed = 0
    /// Timeouts found spurious (for tests and statistics).
    private(set) var spuriousTimeouts = 0

    /// A retransmission timeout fired with SND.MAX at `sndMax`. Only the first timeout of an episode
    /// runs F-RTO (RFC 5682 §2.1: a backed-off timeout continues the conventional recovery).
    mutating func timeout(sndMax: SequenceNumber, consecutive: Int) {
        phase = consecutive <= 1 ? .awaitingFirstAck(recover: sndMax) : .idle
        newSegmentsAllowed = 0
    }

    /// An acceptable ACK arrived: `advanced` says whether it moved SND.UNA (to `ack`); `canSendNewData`
    /// whether unsent data and the peer's window allow step 2b.
    mutating func onAck(ack: SequenceNumber, advanced: Bool, canSendNewData: Bool) -> Decision {
        switch phase {
        case .idle:
            return .none
        case .awaitingFirstAck(let recover):
            phase = .idle
            // Step 2a: a duplicate ACK, or nothing left to judge (the ACK covers everything outstanding).
            guard advanced else { return .conventional }
            if ack >= recover { return .none }
            guard canSendNewData else { return .conventional }
            phase = .awaitingSecondAck
            newSegmentsAllowed = Self.newSegments
            return .sendNewData
        case .awaitingSecondAck:
            phase = .idle
            newSegmentsAllowed = 0
            guard advanced else { return .resumeGoBackN }
            spuriousTimeouts += 1
            return .spurious
        }
    }

    /// One new segment went out under step 2b.
    mutating func didSendNewSegment() {
        if newSegmentsAllowed > 0 { newSegmentsAllowed -= 1 }
    }

    /// Fast recovery began or the connection was reset: F-RTO no longer applies.
    mutating func cancel() {
        phase = .idle
        newSegmentsAllowed = 0
    }
}
