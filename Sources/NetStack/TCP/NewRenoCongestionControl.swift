/// Congestion control per RFC 5681 (slow start, congestion avoidance, fast retransmit/recovery) with
/// the NewReno modification of RFC 6582 for partial acknowledgments. Sizes are in bytes.
struct NewRenoCongestionControl: Hashable {
    /// SMSS: the sender's maximum segment size.
    private(set) var mss: Int
    private(set) var cwnd: Int
    private(set) var ssthresh: Int
    private(set) var duplicateAcks = 0
    /// RFC 6582 §3.2: the highest sequence number sent when fast recovery began.
    private(set) var recover: SequenceNumber? = nil
    private(set) var inFastRecovery = false
    /// RFC 5681 §3.1 byte counting in congestion avoidance.
    private var bytesAckedInAvoidance = 0

    /// RFC 5681 §3.2 (DupThresh).
    static let duplicateThreshold = 3

    init(mss: Int) {
        self.mss = Swift.max(1, mss)
        cwnd = Self.initialWindow(mss: self.mss)
        // RFC 5681 §3.1: "the initial value of ssthresh SHOULD be set arbitrarily high".
        ssthresh = Int.max
    }

    /// RFC 6928 §2: IW = min(10*MSS, max(2*MSS, 14600)).
    static func initialWindow(mss: Int) -> Int { Swift.min(10 * mss, Swift.max(2 * mss, 14600)) }

    mutating func updateMSS(_ newMSS: Int) {
        mss = Swift.max(1, newMSS)
        cwnd = Self.initialWindow(mss: mss)
    }

    /// An ACK advanced SND.UNA by `acked` bytes. Returns true if the segment at the new SND.UNA
    /// must be retransmitted now (a NewReno partial ACK, RFC 6582 §3.2 step 3).
    mutating func onNewAck(acked: Int, ack: SequenceNumber, flightAfter: Int) -> Bool {
        duplicateAcks = 0
        if inFastRecovery, let recover {
            if ack > recover || ack == recover {
                // Full acknowledgment: deflate (RFC 6582 §3.2 step 3, option 1).
                cwnd = Swift.min(ssthresh, Swift.max(flightAfter, mss) + mss)
                inFastRecovery = false
                return false
            }
            // Partial acknowledgment: retransmit the next hole, deflate by the amount acked, add back one
            // SMSS if at least one was acked.
            cwnd = Swift.max(mss, cwnd - acked + (acked >= mss ? mss : 0))
            return true
        }
        if cwnd < ssthresh {
            // RFC 5681 §3.1 eq. 2, with RFC 3465 appropriate byte counting (L = 2*SMSS).
            cwnd += Swift.min(acked, 2 * mss)
        } else {
            // RFC 5681 §3.1: cwnd += SMSS once per cwnd of acknowledged bytes.
            bytesAckedInAvoidance += acked
            if bytesAckedInAvoidance >= cwnd {
                bytesAckedInAvoidance -= cwnd
                cwnd += mss
            }
        }
        return false
    }

    /// A duplicate ACK (RFC 5681 §2 definition). Returns true if fast retransmit must happen now.
    mutating func onDuplicateAck(ack: SequenceNumber, flight: Int, highestSent: SequenceNumber) -> Bool {
        duplicateAcks += 1
        if inFastRecovery {
            // RFC 5681 §3.2 step 4: inflate by one SMSS per additional duplicate ACK.
            cwnd += mss
            return false
        }
        guard duplicateAcks == Self.duplicateThreshold else { return false }
        // RFC 6582 §3.2 step 2: only enter recovery if this ACK covers more than `recover`
        // (avoids repeated fast retransmits after a timeout).
        if let recover, !(ack - 1 > recover) { return false }
        // RFC 5681 eq. 4 and §3.2 steps 2-3.
        ssthresh = Swift.max(flight / 2, 2 * mss)
        recover = highestSent
        cwnd = ssthresh + Self.duplicateThreshold * mss
        inFastRecovery = true
        return true
    }

    /// The retransmission timer expired (RFC 5681 §3.1 eq. 4 and "loss window"; RFC 6582 §4).
    mutating func onRetransmissionTimeout(flight: Int, highestSent: SequenceNumber) {
        ssthresh = Swift.max(flight / 2, 2 * mss)
        cwnd = mss
        duplicateAcks = 0
        inFastRecovery = false
        recover = highestSent
        bytesAckedInAvoidance = 0
    }
}
