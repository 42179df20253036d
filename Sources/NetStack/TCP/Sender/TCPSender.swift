import Wire

/// The sending half of a connection's loss machinery: the SACK scoreboard, loss recovery (RFC 6675
/// with SACK, RFC 6582 NewReno without) and the congestion-control policy, composed by `TCPConnection`.
///
/// It decides, per acknowledgment, whether loss recovery starts or ends and what the congestion window
/// is; per transmission opportunity, what may be in flight (`pipe`) and which hole to resend next
/// (`nextRetransmission`). It never sees payload bytes or builds segments.
struct TCPSender {
    /// RFC 5681 §3.2 / RFC 6675 §2: DupThresh.
    static let duplicateThreshold = 3
    /// The largest reordering degree (in segments) DupThresh adapts to (Linux `tcp_max_reordering`).
    static let maximumReordering = 300
    /// RFC 3042 §2: segments limited transmit may send beyond cwnd on the first two duplicate ACKs.
    static let limitedTransmitSegments = 2

    /// DupThresh adapted to the reordering seen: 3, raised when D-SACKs show that a recovery was caused
    /// by reordering (RFC 6675 §2 allows a larger value; RFC 4653 and Linux's `tp->reordering` adapt it
    /// this way).
    private var adaptedThreshold = TCPSender.duplicateThreshold
    /// Segments outstanding at the last ACK.
    private var outstandingSegments = 0
    /// DupThresh in use: the adapted value, but never more than half the segments in flight, so that a
    /// small window still finds its losses by SACK rather than by the RTO (the concern of RFC 5827).
    var duplicateThreshold: Int {
        Swift.max(Self.duplicateThreshold, Swift.min(adaptedThreshold, outstandingSegments / 2))
    }
    /// SACKed bytes above SND.UNA when the current recovery began: the reordering degree if it was
    /// spurious.
    private var sackedAtEntry = 0
    /// Retransmissions of the current recovery and SND.MAX when each was sent. Data above that SND.MAX
    /// was sent later; once it is SACKed while the retransmission at SND.UNA is still missing, that
    /// retransmission was lost too (the sequence-order form of RFC 8985 §6.2's "a later-sent segment
    /// was delivered").
    private var retransmissions: [(seq: SequenceNumber, end: SequenceNumber, sentBelow: SequenceNumber)] = []
    /// Retransmissions found lost this way (for tests and statistics).
    private(set) var lostRetransmissions = 0

    /// RFC 8985 §7: the probe timeout (PTO) of a tail loss probe, or nil when none is armed.
    private(set) var probeDeadline: NetInstant? = nil
    /// A tail loss probe is due now (the PTO fired).
    var tailLossProbeDue = false
    /// RFC 8985 §7.2: at most one probe until an ACK advances SND.UNA.
    private var probeAllowed = true
    /// Probes sent (for tests and statistics).
    private(set) var tailLossProbes = 0

    var congestion: CongestionController
    /// Delivery-rate estimation (draft-cheng-iccrg-delivery-rate-estimation) for the policies driven by
    /// rate samples (BBR).
    private(set) var rates = DeliveryRateEstimator()
    /// Spaces transmissions at the policy's pacing rate, if it has one.
    private(set) var pacer = Pacer()
    /// When the pacer lets the next segment go, while output waits for it; nil otherwise.
    private(set) var pacingDeadline: NetInstant? = nil
    /// RFC 9406: HyStart++ ends the initial slow start when the RTT grows.
    private(set) var hyStart = HyStartPlusPlus()
    /// RFC 5682: F-RTO, spurious retransmission timeouts.
    private(set) var forwardRTO = ForwardRTO()
    /// F-RTO's decision on the last ACK, for the connection to act on (`takeForwardRTODecision`).
    private var forwardRTODecision = ForwardRTO.Decision.none
    /// RFC 8985 §6: time-based loss detection over every transmission (with SACK only).
    private(set) var rack = RACK()
    /// RFC 8985 §6.3: the reordering timer, when a segment may still turn out lost.
    private(set) var reorderingDeadline: NetInstant? = nil
    private(set) var scoreboard = SACKScoreboard()
    /// Both sides offered SACK-permitted (RFC 2018 §2).
    private(set) var sackEnabled = false
    private(set) var mss: Int

    /// In fast recovery (RFC 6675 §5 / RFC 6582 §3.2).
    private(set) var inRecovery = false
    /// A retransmission timeout's go-back-N is under way: its recovery point is not yet acknowledged
    /// (RFC 8985 §6.2 step 4 counts this as loss recovery too).
    private(set) var recoveringFromTimeout = false
    /// RecoveryPoint (RFC 6675 §2) / "recover" (RFC 6582 §3.2): SND.MAX when recovery (or the last
    /// timeout) began; recovery ends when it is acknowledged and does not restart below it.
    private(set) var recoveryPoint: SequenceNumber? = nil
    /// DupAcks (RFC 6675 §2; RFC 5681 §2 without SACK).
    private(set) var duplicateAcks = 0
    /// HighRxt (RFC 6675 §2): the highest sequence number retransmitted in this recovery.
    private(set) var highRetransmitted: SequenceNumber
    /// The segment at SND.UNA must be retransmitted at the next opportunity (fast retransmit,
    /// RFC 5681 §3.2 step 2 / RFC 6675 §5 step 4.2; a NewReno partial ACK, RFC 6582 §3.2 step 3).
    var retransmitHeadDue = false
    /// Without SACK: bytes presumed delivered above the first hole, one SMSS per duplicate ACK
    /// (what RFC 6582's window inflation accounts for).
    private(set) var renoDelivered = 0

    /// RFC 2883 §5 / RFC 3708: the congestion state before each recent episode, restored when D-SACKs
    /// show every retransmission of the episode was unnecessary.
    private(set) var undo = SpuriousRecoveryUndo()
    /// Episodes undone (for tests and statistics).
    var undoCount: Int { undo.undone }
    /// Fast recoveries entered (for tests and statistics).
    private(set) var recoveries = 0
    /// Retransmission timeouts (for tests and statistics).
    private(set) var timeouts = 0
    /// Segments retransmitted, by any path (for tests and statistics).
    private(set) var retransmittedSegments = 0

    init(algorithm: TCPCongestionControlAlgorithm, mss: Int, iss: SequenceNumber) {
        self.mss = Swift.max(1, mss)
        congestion = CongestionController(algorithm, mss: self.mss)
        highRetransmitted = iss
    }

    mutating func updateMSS(_ newMSS: Int) {
        mss = Swift.max(1, newMSS)
        congestion.updateMSS(mss)
    }

    mutating func enableSACK() { sackEnabled = true }

    var cwnd: Int { congestion.cwnd }

    // MARK: Acknowledgments

    /// Processes an acceptable ACK (SND.UNA ≤ SEG.ACK ≤ SND.MAX). `oldUna` is SND.UNA before it;
    /// `isDuplicate` says whether it meets RFC 5681 §2's duplicate-ACK definition (used without SACK);
    /// `flight` is SND.MAX − old SND.UNA. `sndNxt` (SND.MAX if not given) is where sending resumes.
    mutating func onAck(
        ack: SequenceNumber, oldUna: SequenceNumber, sndMax: SequenceNumber, blocks: TCPSACKBlocks,
        isDuplicate: Bool, now: NetInstant, rtt: Int64?, canSendNewData: Bool = false,
        echoedSendTime: NetInstant? = nil, rttSample: Int64? = nil, sndNxt: SequenceNumber? = nil
    ) {
        // The rate sample goes to the policy after the recovery decisions below (BBR conserves packets
        // from the ACK that starts recovery).
        defer {
            feedRateSample(una: ack, sndNxt: sndNxt ?? sndMax, sndMax: sndMax, now: now)
            if ack == sndMax { releaseDrainedStorage() }
        }
        let advanced = ack - oldUna
        let flight = sndMax - oldUna
        outstandingSegments = (sndMax - ack) / mss
        var newlySacked = 0
        if sackEnabled {
            let update = scoreboard.update(blocks: blocks, ack: ack, una: ack, sndMax: sndMax)
            newlySacked = update.newlySacked
            // RFC 2883 §5: only D-SACKs of an episode's retransmissions (at or above SND.UNA when it
            // began, below SND.MAX then) count towards undoing it.
            if let d = update.duplicate { undo.duplicateSacked(left: d.left, right: d.right) }
            rack.updateReorderingWindow(duplicateSack: update.duplicate != nil, una: ack, sndNxt: sndMax)
            scoreboard.advance(to: ack)
            rack.onAck(una: ack, scoreboard: scoreboard, now: now, echoedSendTime: echoedSendTime, rates: &rates)
            detectRACKLosses(now: now, smoothedRTT: rtt)
            if inRecovery { detectLostRetransmissions(una: ack) }
        } else if congestion.usesRateSamples {
            // Without SACK the records serve delivery-rate estimation only (cumulative deliveries).
            rack.onAck(una: ack, scoreboard: scoreboard, now: now, echoedSendTime: echoedSendTime, rates: &rates)
        }
        if advanced > 0 {
            duplicateAcks = 0
            probeAllowed = true
            if recoveringFromTimeout, recoveryPoint.map({ ack >= $0 }) ?? true {
                recoveringFromTimeout = false
                rack.recoveryEnded()
                congestion.onTimeoutRecoveryEnd()
            }
            if highRetransmitted < ack { highRetransmitted = ack }
            if inRecovery, let point = recoveryPoint {
                if ack >= point {
                    // RFC 6675 §5 / RFC 6582 §3.2 step 3: full acknowledgment ends recovery.
                    inRecovery = false
                    probeDeadline = nil
                    renoDelivered = 0
                    congestion.onRecoveryEnd()
                    rack.recoveryEnded()
                } else if !sackEnabled {
                    // RFC 6582 §3.2 step 3, partial acknowledgment: resend the next hole; the segments
                    // the ACK covered beyond the retransmitted one were among those presumed delivered.
                    retransmitHeadDue = true
                    renoDelivered = Swift.max(0, renoDelivered - Swift.max(0, advanced - mss))
                }
            } else {
                growWindow(acked: advanced, ack: ack, sndMax: sndMax, now: now, rtt: rtt, rttSample: rttSample)
            }
        } else if sackEnabled ? newlySacked > 0 : isDuplicate {
            // RFC 6675 §2: with SACK, a duplicate is an ACK that SACKs new data.
            duplicateAcks += 1
            if inRecovery && !sackEnabled { renoDelivered += mss }
        }
        if advanced > 0 || (sackEnabled ? newlySacked > 0 : isDuplicate) {
            decideForwardRTO(ack: ack, advanced: advanced > 0, canSendNewData: canSendNewData)
        }
        while let (episode, isLatest) = undo.takeSpurious() { undoEpisode(episode, isLatest: isLatest) }
        guard !inRecovery else { return }
        // RFC 6675 §5: enter recovery on DupThresh duplicates or when IsLost(HighACK + 1);
        // RFC 6675 §5.1 / RFC 6582 §3.2 step 1: not until the ACK covers the last recovery point. That
        // point is HighData (RFC 6675 §2) / "the highest sequence number transmitted" (RFC 6582), the
        // last byte sent, SND.MAX − 1; `recoveryPoint` holds SND.MAX, so an ACK equal to it covers it.
        // (Requiring more than that kept the loss of the first segment sent after a recovery from being
        // repaired until the RTO.)
        // RFC 8985 §6.2: RACK marking a segment lost starts recovery as well. Once reordering was seen,
        // RACK alone decides (its window then tolerates the reordering; DupThresh would not), as Linux's
        // `tcp_time_to_recover` does with RACK.
        let lost = sackEnabled && (rack.firstLost != nil || (!rackOnly && isLost(ack, una: ack)))
        guard (!rackOnly && duplicateAcks >= duplicateThreshold) || lost else { return }
        if let point = recoveryPoint, ack < point { return }
        guard sndMax > ack else { return }
        enterRecovery(una: ack, sndMax: sndMax, flight: flight, now: now)
    }

    /// RFC 5681 §3.1 / RFC 9438 growth for `acked` new bytes outside recovery; in the initial slow start
    /// HyStart++ (RFC 9406 §4.2) may slow the growth (Conservative Slow Start) or end it.
    private mutating func growWindow(
        acked: Int, ack: SequenceNumber, sndMax: SequenceNumber, now: NetInstant, rtt: Int64?, rttSample: Int64?
    ) {
        guard congestion.cwnd < congestion.ssthresh, !recoveringFromTimeout else {
            congestion.onAck(acked: acked, now: now, rtt: rtt)
            return
        }
        switch hyStart.onAck(ack: ack, sndNxt: sndMax, rttSample: rttSample) {
        case .standard:
            congestion.onAck(acked: acked, now: now, rtt: rtt)
        case .conservative:
            congestion.onAck(acked: Swift.max(1, acked / HyStartPlusPlus.conservativeGrowthDivisor), now: now, rtt: rtt)
        case .exit:
            congestion.endSlowStart()
            congestion.onAck(acked: acked, now: now, rtt: rtt)
        }
    }

    /// RFC 5682 §2.1 steps 2 and 3 for an ACK after a timeout; step 3b undoes the timeout's reduction
    /// (as Linux's `tcp_try_undo_loss` does; RFC 5682 §4 leaves the response to the implementation).
    private mutating func decideForwardRTO(ack: SequenceNumber, advanced: Bool, canSendNewData: Bool) {
        let decision = forwardRTO.onAck(ack: ack, advanced: advanced, canSendNewData: canSendNewData)
        if decision == .none { return }
        forwardRTODecision = decision
        guard decision == .spurious else { return }
        if let episode = undo.takeLatest() { undoEpisode(episode, isLatest: true) }
        if recoveringFromTimeout {
            recoveringFromTimeout = false
            rack.recoveryEnded()
        }
    }

    /// F-RTO's decision on the last ACK (RFC 5682 §2.1), once: the connection moves SND.NXT by it.
    mutating func takeForwardRTODecision() -> ForwardRTO.Decision {
        defer { forwardRTODecision = .none }
        return forwardRTODecision
    }

    /// New data may go out past the congestion window: F-RTO step 2b's two segments.
    var forwardRTOMaySendNewData: Bool { forwardRTO.newSegmentsAllowed > 0 }

    private mutating func enterRecovery(una: SequenceNumber, sndMax: SequenceNumber, flight: Int, now: NetInstant) {
        forwardRTO.cancel()
        hyStart.stop()
        undo.begin(una: una, sndMax: sndMax, before: congestion, fromTimeout: false)
        probeDeadline = nil
        sackedAtEntry = scoreboard.sackedBytes
        retransmissions.removeAll(keepingCapacity: true)
        recoveryPoint = sndMax
        inRecovery = true
        recoveries += 1
        // RFC 6675 §5 step 4.2 / RFC 5681 eq. 4: ssthresh from FlightSize, cwnd = ssthresh.
        congestion.onCongestionEvent(flight: flight, now: now)
        undo.reduced(to: reducedWindow)
        retransmitHeadDue = true
        highRetransmitted = una
        renoDelivered = sackEnabled ? 0 : Swift.min(duplicateAcks * mss, flight)
    }

    /// RFC 8985 §6.2 step 5 and §6.3: marks what RACK finds lost and arms (or clears) the reordering
    /// timer for what may still be.
    private mutating func detectRACKLosses(now: NetInstant, smoothedRTT: Int64?) {
        let dupThreshReached = scoreboard.sackedBytes > (duplicateThreshold - 1) * mss
        let window = rack.reorderingWindow(inRecovery: inRecovery || recoveringFromTimeout, dupThreshReached: dupThreshReached, smoothedRTT: smoothedRTT)
        let result = rack.detectLoss(now: now, reorderingWindow: window)
        reorderingDeadline = result.timer
    }

    /// RFC 8985 §6.3: the reordering timer fired; returns whether segments were marked lost.
    mutating func reorderingTimerExpired(now: NetInstant, smoothedRTT: Int64?, una: SequenceNumber, sndMax: SequenceNumber) -> Bool {
        guard let d = reorderingDeadline, d <= now else { return false }
        reorderingDeadline = nil
        detectRACKLosses(now: now, smoothedRTT: smoothedRTT)
        guard rack.firstLost != nil else { return false }
        // RFC 8985 §6.3: losses found by the timer start recovery like those found by an ACK.
        if !inRecovery, recoveryPoint.map({ una >= $0 }) ?? true, sndMax > una {
            enterRecovery(una: una, sndMax: sndMax, flight: sndMax - una, now: now)
        }
        return true
    }

    /// RFC 2883 §5 / RFC 3708 §3 (and Linux's undo): every retransmission of the episode was reported
    /// as a duplicate, so the loss was not a loss. The latest episode restores the congestion state of
    /// before it and ends; an older one undoes its own reduction only (see `SpuriousRecoveryUndo`).
    private mutating func undoEpisode(_ episode: SpuriousRecoveryUndo.Episode, isLatest: Bool) {
        // A fast recovery is entered on SACKs above a hole: all of it spurious means the hole's segments
        // arrived late, i.e. reordering. (One D-SACK alone is no proof: a lost ACK makes a probe or a
        // timeout's resend a duplicate as well, and reordering then switched off DupThresh on a lossy
        // path.) A spurious timeout is a delay spike, not reordering.
        if !episode.fromTimeout { rack.noteReordering() }
        guard isLatest else {
            congestion.undoReduction(factor: episode.reduction, upTo: episode.before)
            return
        }
        let previous = episode.before
        if congestion.usesRateSamples {
            // A model-based policy keeps what it measured since; only its window comes back.
            congestion.undoReduction(factor: episode.reduction, upTo: previous)
        } else if previous.cwnd > congestion.cwnd || previous.ssthresh > congestion.ssthresh {
            congestion = previous
        }
        // The episode was reordering, not loss: tolerate that much reordering from now on, and let the
        // next real loss start recovery at once.
        let degree = sackedAtEntry / mss + 1
        // Raise DupThresh by at most one segment per undone episode (RFC 4653 §3.2 style), so that one
        // episode that looked like a long reordering cannot hide real losses for long.
        adaptedThreshold = Swift.min(Self.maximumReordering, Swift.max(adaptedThreshold, Swift.min(degree, adaptedThreshold + 1)))
        recoveryPoint = nil
        if inRecovery {
            inRecovery = false
            renoDelivered = 0
            rack.recoveryEnded()
        }
    }

    /// The window an episode reduced to, for undoing it by the same factor: ssthresh for the loss-based
    /// policies; BBR keeps no ssthresh (unbounded) and reduces on the next rate sample, so its factor is 1.
    private var reducedWindow: Int { congestion.usesRateSamples ? congestion.cwnd : congestion.ssthresh }

    /// With SACK, once reordering was seen, RACK's marks are the only loss detection (RFC 8985 §6.2
    /// replaces RFC 6675 §4 IsLost() then): DupThresh SACKed segments above a hole prove nothing when
    /// segments overtake each other by more than that.
    var rackOnly: Bool { sackEnabled && rack.reorderingSeen }

    /// Marks the retransmission at SND.UNA lost when data sent after it has been SACKed while it is
    /// still missing, and has it resent.
    private mutating func detectLostRetransmissions(una: SequenceNumber) {
        guard let highest = scoreboard.highestSacked, !retransmissions.isEmpty else { return }
        // The latest retransmission known to be delivered (SACKed): one sent before it that is still
        // missing was lost (RFC 8985 §6.2 in send order instead of send time).
        var lastDelivered = -1
        for (k, r) in retransmissions.enumerated() where r.end > una && scoreboard.covers(left: r.seq, right: r.end) {
            lastDelivered = k
        }
        var i = 0
        var k = 0
        while i < retransmissions.count {
            let r = retransmissions[i]
            defer { k += 1 }
            if r.end <= una || scoreboard.covers(left: r.seq, right: r.end) {
                retransmissions.remove(at: i)
                continue
            }
            // Only the retransmission at SND.UNA is judged: the cumulative ACK reports it exactly, while
            // a retransmission that filled a hole further up may merge blocks the peer has no room to
            // report (RFC 2018 §4 keeps 3-4 blocks), and judging those would resend delivered data.
            let laterDataDelivered = highest > r.sentBelow + (duplicateThreshold - 1) * mss
            if r.seq <= una && (laterDataDelivered || k < lastDelivered) {
                retransmissions.remove(at: i)
                lostRetransmissions += 1
                // Resend just that segment; HighRxt stays, so the holes above are not resent again.
                retransmitHeadDue = true
                continue
            }
            i += 1
        }
    }

    /// RFC 6675 §4 IsLost(seq) for an unSACKed `seq`.
    func isLost(_ seq: SequenceNumber, una: SequenceNumber) -> Bool {
        guard let boundary = scoreboard.lossBoundary(duplicateThreshold: duplicateThreshold, smss: mss)
        else { return false }
        return seq < boundary && !scoreboard.covers(left: seq, right: seq + 1)
    }

    /// Everything sent has been acknowledged: the per-transmission records (RACK's, with their
    /// delivery-rate snapshots), the SACK scoreboard and the recovery's retransmission list hold nothing
    /// that matters any more, and their storage goes back to the allocator, so that an idle connection
    /// holds no loss or rate machinery beyond its fixed state (issue 14: ≤ 4 KiB per idle connection).
    /// The next flight reserves it again. What persists across flights (RACK's minimum RTT and
    /// reordering window, the delivery counters, the undo episodes a late D-SACK may still prove
    /// spurious) is kept.
    private mutating func releaseDrainedStorage() {
        rack.releaseStorage()
        scoreboard.releaseStorage()
        if retransmissions.capacity > 0 { retransmissions = [] }
    }

    /// Bytes of element storage the sender's lists hold beyond its inline state (their capacity, not
    /// their count): RACK's records, the SACK scoreboard, the recovery's retransmissions and the undo
    /// episodes. For tests and memory accounting.
    var heldStorageBytes: Int {
        rack.records.capacity * MemoryLayout<RACK.Record>.stride
            + scoreboard.ranges.capacity * MemoryLayout<SACKScoreboard.Range>.stride
            + retransmissions.capacity * MemoryLayout<(seq: SequenceNumber, end: SequenceNumber, sentBelow: SequenceNumber)>.stride
            + undo.episodes.capacity * MemoryLayout<SpuriousRecoveryUndo.Episode>.stride
    }

    /// Hands the ACK's delivery-rate sample, if any, to a policy that uses them.
    private mutating func feedRateSample(una: SequenceNumber, sndNxt: SequenceNumber, sndMax: SequenceNumber, now: NetInstant) {
        guard congestion.usesRateSamples, let rs = rates.finishAck(now: now) else { return }
        congestion.onRateSample(rs, inFlight: pipe(una: una, sndNxt: sndNxt, sndMax: sndMax), now: now)
    }

    /// The application had nothing more to send while the window had room (draft-cheng-iccrg-delivery-
    /// rate-estimation §3.4): rate samples until `inFlight` is delivered do not show the path's rate.
    mutating func noteApplicationLimited(inFlight: Int) {
        guard congestion.usesRateSamples else { return }
        rates.applicationLimited(inFlight: inFlight)
    }

    // MARK: Pacing

    /// Whether a paced segment (new data or a loss-recovery retransmission) may leave at `now`. When it
    /// may not, the pacing timer is armed for the departure time.
    mutating func pacingAllows(now: NetInstant) -> Bool {
        guard congestion.pacingRate != nil, !pacer.allows(now: now) else { return true }
        pacingDeadline = pacer.nextDeparture
        return false
    }

    /// `bytes` of data left at `now`: the pacer schedules the next departure.
    mutating func didTransmit(bytes: Int, now: NetInstant) {
        guard let rate = congestion.pacingRate else { return }
        pacer.sent(bytes: bytes, now: now, rate: rate, mss: mss)
    }

    /// The pacing timer fired: output may resume. Returns whether it was due.
    mutating func pacingTimerExpired(now: NetInstant) -> Bool {
        guard let d = pacingDeadline, d <= now else { return false }
        pacingDeadline = nil
        return true
    }

    // MARK: Transmission

    /// RFC 6675 §4 SetPipe(): the sender's estimate of bytes in the network. Outside recovery, SND.NXT −
    /// SND.UNA less what the peer SACKed; without SACK in recovery, less one SMSS per duplicate ACK.
    func pipe(una: SequenceNumber, sndNxt: SequenceNumber, sndMax: SequenceNumber) -> Int {
        guard inRecovery else {
            // Outside recovery SACKed data leaves the pipe only up to RFC 3042's limited transmit (two
            // segments): more would let the flight grow without bound past a hole that recovery has not
            // (yet) been entered for.
            let flight = sndNxt - una
            let sacked = sackEnabled ? scoreboard.sackedBytes(from: una, to: sndNxt) : 0
            // RACK-lost segments (RFC 8985 §6.2) have left the network, as in RFC 6675 §4 SetPipe.
            return Swift.max(0, flight - Swift.min(sacked, Self.limitedTransmitSegments * mss) - rack.lostBytes)
        }
        guard sackEnabled else { return Swift.max(0, (sndMax - una) - renoDelivered) }
        let unsacked = (sndMax - una) - scoreboard.sackedBytes(from: una, to: sndMax)
        // RFC 6675 §4 SetPipe with RACK's lost marks for IsLost() (retransmitted ranges lose the mark).
        if rackOnly { return Swift.max(0, unsacked - rack.lostBytes) }
        var lostUnsacked = 0
        let lostBoundary = scoreboard.lossBoundary(duplicateThreshold: duplicateThreshold, smss: mss)
        if let boundary = lostBoundary, boundary > una
        {
            lostUnsacked = (boundary - una) - scoreboard.sackedBytes(from: una, to: boundary)
        }
        var retransmittedUnsacked = 0
        if highRetransmitted > una {
            retransmittedUnsacked = (highRetransmitted - una) - scoreboard.sackedBytes(from: una, to: highRetransmitted)
        }
        // RACK-lost ranges (RFC 8985 §6.2) not already counted lost above: lost retransmissions below
        // HighRxt and losses above the IsLost() boundary.
        var rackLost = 0
        for r in rack.records where r.lost && !(r.seq >= highRetransmitted && lostBoundary.map { r.end <= $0 } ?? false) {
            rackLost += r.end - r.seq
        }
        return Swift.max(0, unsacked - lostUnsacked + retransmittedUnsacked - rackLost)
    }

    /// Bytes that may be sent now under the congestion window (RFC 6675 §5 step (C): cwnd − pipe).
    func congestionRoom(una: SequenceNumber, sndNxt: SequenceNumber, sndMax: SequenceNumber) -> Int {
        Swift.max(0, congestion.cwnd - pipe(una: una, sndNxt: sndNxt, sndMax: sndMax))
    }

    /// RFC 6675 §4 NextSeg() rule 1: the first unSACKed range above HighRxt that IsLost(), as
    /// (start, length ≤ SMSS); nil when none, or outside SACK recovery.
    /// Before that rule, a range RACK marked lost (RFC 8985 §6.2), in recovery or after a timeout: lost
    /// retransmissions and losses RFC 6675's count of SACKed segments does not see yet.
    func nextRetransmission(una: SequenceNumber, sndMax: SequenceNumber) -> (seq: SequenceNumber, length: Int)? {
        if sackEnabled, let r = rack.firstLost, r.seq >= una, r.seq < sndMax {
            let length = Swift.min(mss, r.end - r.seq, sndMax - r.seq)
            if length > 0 { return (r.seq, length) }
        }
        guard inRecovery, sackEnabled, !rackOnly,
            let boundary = scoreboard.lossBoundary(duplicateThreshold: duplicateThreshold, smss: mss)
        else { return nil }
        let start = highRetransmitted > una ? highRetransmitted : una
        let (seq, room) = scoreboard.nextUnsacked(from: start)
        guard seq < boundary, seq < sndMax else { return nil }
        var length = Swift.min(mss, sndMax - seq, boundary - seq)
        if let room { length = Swift.min(length, room) }
        return length > 0 ? (seq, length) : nil
    }

    /// RFC 6298 §3: an RTT sample for an ACK up to `ack` (before `onAck` sees it) from the send time of
    /// the newest segment it covers, at the clock's precision; nil without SACK (no send times kept) or
    /// when Karn's rule forbids one (see `RACK.roundTripSample`).
    func roundTripSample(ack: SequenceNumber, now: NetInstant) -> Int64? {
        guard sackEnabled else { return nil }
        return rack.roundTripSample(ack: ack, now: now)
    }

    /// A retransmission of `[seq, seq + length)` was sent while SND.MAX was `sndMax`.
    /// `outstanding` is SND.MAX − SND.UNA before it (0 restarts the delivery-rate intervals).
    mutating func didRetransmit(
        seq: SequenceNumber, length: Int, sndMax: SequenceNumber, now: NetInstant, outstanding: Int = 1
    ) {
        let end = seq + length
        if sackEnabled || congestion.usesRateSamples {
            rack.onSent(seq: seq, end: end, now: now, retransmission: true, snapshot: snapshot(now: now, outstanding: outstanding))
        }
        if highRetransmitted < end { highRetransmitted = end }
        undo.retransmitted(seq: seq, length: length)
        retransmittedSegments += 1
        if inRecovery && sackEnabled && length > 0 && retransmissions.count < 1024 {
            // Reserved at the first recovery, not at creation: an idle connection holds no storage.
            if retransmissions.capacity == 0 { retransmissions.reserveCapacity(16) }
            retransmissions.append((seq, end, sndMax))
        }
    }

    /// New data `[seq, seq + length)` was sent (RFC 8985 §6.1: its transmission time).
    /// `outstanding` is SND.MAX − SND.UNA before it (0 restarts the delivery-rate intervals).
    mutating func didSend(seq: SequenceNumber, length: Int, now: NetInstant, outstanding: Int = 1) {
        forwardRTO.didSendNewSegment()
        if sackEnabled || congestion.usesRateSamples {
            rack.onSent(
                seq: seq, end: seq + length, now: now, retransmission: false, snapshot: snapshot(now: now, outstanding: outstanding))
        }
    }

    /// The delivery state to record with a transmission, for the policies that use rate samples.
    private mutating func snapshot(now: NetInstant, outstanding: Int) -> DeliverySnapshot {
        guard congestion.usesRateSamples else { return .zero }
        return rates.snapshot(now: now, inFlight: outstanding)
    }

    /// Where to resume sending after a timeout's go-back-N at `seq` (RFC 6675 §5.1: SACKed data need not
    /// be resent): the next unSACKed byte and how much may follow before a SACKed range.
    func skipSacked(from seq: SequenceNumber) -> (seq: SequenceNumber, room: Int?) {
        guard sackEnabled else { return (seq, nil) }
        return scoreboard.nextUnsacked(from: seq)
    }

    // MARK: Tail loss probe (RFC 8985 §7)

    /// RFC 8985 §7.2: arms the PTO after new data was sent or an ACK arrived, when SACK is in use,
    /// nothing is being recovered and data is outstanding: PTO = 2·SRTT, plus the peer's worst-case
    /// delayed ACK when only one segment is in flight, and never later than the RTO. A small slack
    /// (`probeTimeoutSlack`) is added instead of a fixed floor, so the probe keeps pace with a
    /// sub-millisecond path.
    mutating func armTailLossProbe(
        now: NetInstant, smoothedRTT: Int64?, flight: Int, retransmitDeadline: NetInstant?
    ) {
        guard sackEnabled, !inRecovery, probeAllowed, flight > 0, let srtt = smoothedRTT else {
            if flight == 0 { probeDeadline = nil }
            return
        }
        var pto = 2 * srtt
        pto += flight <= mss ? Self.worstCaseDelayedAck : Self.probeTimeoutSlack
        let deadline = now + pto
        if let rto = retransmitDeadline, rto <= deadline {
            probeDeadline = nil
            return
        }
        probeDeadline = deadline
    }

    /// Added to 2·SRTT for the PTO (RFC 8985 §7.2) when more than one segment is in flight: Linux's
    /// `tcp_schedule_loss_probe` adds `TCP_TIMEOUT_MIN`, 2 jiffies (2 ms at HZ=1000). It was a 10 ms
    /// floor here: on a path with a 0.1–0.5 ms RTT that is 20–100 round trips per tail loss, and at
    /// 5 % loss a window of 3–5 segments loses its tail often.
    static let probeTimeoutSlack: Int64 = 2_000_000
    /// RFC 8985 §7.2 WCDelAckT: 200 ms.
    static let worstCaseDelayedAck: Int64 = 200_000_000

    /// The PTO fired: a probe is due (RFC 8985 §7.3); the caller re-arms the RTO. In recovery the same
    /// timer guards the retransmission at SND.UNA: still unacknowledged after 2·SRTT, it is taken as lost
    /// and sent again (RFC 8985 §6.3's reordering timer, for the one segment a window-limited recovery
    /// cannot learn about from later deliveries), instead of waiting for the RTO.
    mutating func probeTimerExpired(now: NetInstant) -> Bool {
        guard let d = probeDeadline, d <= now else { return false }
        probeDeadline = nil
        if inRecovery {
            // Once per advance of SND.UNA: a head that stays lost is then left to the RTO, which backs
            // off and counts towards giving up (RFC 6298 §5.5, RFC 9293 §3.8.3 R2). Re-arming it on
            // every resend kept a dead path resending every 2·SRTT without ever timing out.
            probeAllowed = false
            retransmitHeadDue = true
            lostRetransmissions += 1
            return true
        }
        probeAllowed = false
        tailLossProbeDue = true
        tailLossProbes += 1
        return true
    }

    /// In recovery, after the segment at SND.UNA was retransmitted: arm the timer that resends it if it
    /// is still missing after 2·SRTT + `probeTimeoutSlack`, the PTO of RFC 8985 §7.2 (see
    /// `probeTimerExpired`).
    mutating func armRecoveryProbe(now: NetInstant, smoothedRTT: Int64?, retransmitDeadline: NetInstant?) {
        guard inRecovery, sackEnabled, probeAllowed, let srtt = smoothedRTT else { return }
        let deadline = now + 2 * srtt + Self.probeTimeoutSlack
        if let rto = retransmitDeadline, rto <= deadline { return }
        probeDeadline = deadline
    }

    /// Cancels a pending probe (recovery began, or the connection ended).
    mutating func cancelTailLossProbe() {
        probeDeadline = nil
        tailLossProbeDue = false
    }

    // MARK: Timeout

    /// The retransmission timer expired (RFC 5681 §3.1, RFC 6582 §4, RFC 6675 §5.1). After a second
    /// consecutive timeout the SACK information is discarded in case the receiver reneged (RFC 2018 §8).
    mutating func onRetransmissionTimeout(una: SequenceNumber, sndMax: SequenceNumber, consecutive: Int, now: NetInstant) {
        // A new episode; a backed-off timeout continues the previous one.
        if consecutive <= 1 { undo.begin(una: una, sndMax: sndMax, before: congestion, fromTimeout: true) }
        congestion.onRetransmissionTimeout(flight: sndMax - una, now: now)
        if consecutive <= 1 { undo.reduced(to: reducedWindow) }
        timeouts += 1
        hyStart.stop()
        forwardRTO.timeout(sndMax: sndMax, consecutive: consecutive)
        recoveringFromTimeout = true
        inRecovery = false
        recoveryPoint = sndMax
        duplicateAcks = 0
        renoDelivered = 0
        retransmitHeadDue = false
        highRetransmitted = una
        retransmissions.removeAll(keepingCapacity: true)
        probeDeadline = nil
        tailLossProbeDue = false
        // The go-back-N resend covers every outstanding range: RACK's marks would only resend them twice.
        rack.clearLostMarks()
        reorderingDeadline = nil
        if consecutive > 1 {
            scoreboard.removeAll()
            rack.forgetDeliveries()
        }
    }
}
