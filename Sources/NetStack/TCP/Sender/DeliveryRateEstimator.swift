import Wire

/// What the connection's delivery state was when a segment was (re)transmitted
/// (draft-cheng-iccrg-delivery-rate-estimation-02 §3.2, "P.delivered", "P.delivered_time",
/// "P.first_sent_time", "P.is_app_limited").
struct DeliverySnapshot: Hashable {
    var delivered: Int
    var deliveredTime: NetInstant
    var firstSentTime: NetInstant
    var isAppLimited: Bool

    static let zero = DeliverySnapshot(delivered: 0, deliveredTime: .zero, firstSentTime: .zero, isAppLimited: false)
}

/// One ACK's delivery-rate sample (draft-cheng-iccrg-delivery-rate-estimation-02 §3.3, "rs.*").
struct RateSample: Hashable {
    /// Bytes delivered over `interval` (rs.delivered).
    var delivered: Int
    /// rs.interval: the longer of the send and the ACK phases, nanoseconds.
    var interval: Int64
    /// rs.prior_delivered: C.delivered when the most recently sent delivered segment was sent.
    var priorDelivered: Int
    /// rs.is_app_limited.
    var isAppLimited: Bool
    /// Bytes newly delivered (cumulatively ACKed or SACKed) by this ACK.
    var newlyDelivered: Int
    /// The round trip of the most recently sent delivered segment, if it was not retransmitted (Karn).
    var rtt: Int64?

    /// Bytes per second, or nil when the interval is too short to mean anything (§3.3: shorter than
    /// the minimum RTT, or zero).
    func deliveryRate(minRTT: Int64?) -> Double? {
        guard interval > 0, delivered > 0 else { return nil }
        if let minRTT, interval < minRTT { return nil }
        return Double(delivered) * 1e9 / Double(interval)
    }
}

/// Delivery-rate estimation (draft-cheng-iccrg-delivery-rate-estimation-02): the connection's
/// delivered count and times ("C.*"), a snapshot per transmission, and per ACK the rate over the
/// interval that ends with the most recently sent segment the ACK delivered. The caller owns the
/// per-segment storage (RACK's records) and calls `snapshot` on every transmission, `delivered` for
/// each segment an ACK newly delivers, then `finishAck`.
struct DeliveryRateEstimator: Hashable {
    /// C.delivered: bytes cumulatively ACKed or SACKed so far.
    private(set) var delivered = 0
    /// C.delivered_time.
    private(set) var deliveredTime = NetInstant.zero
    /// C.first_sent_time: the send time of the most recently sent delivered segment.
    private(set) var firstSentTime = NetInstant.zero
    /// C.app_limited: 0, or the delivered count past which samples are no longer application-limited.
    private(set) var appLimitedUntil = 0

    // The sample being built from one ACK's deliveries.
    private struct Pending: Hashable {
        var prior: DeliverySnapshot
        var sentAt: NetInstant
        var retransmitted: Bool
    }
    private var pending: Pending? = nil
    private var newlyDelivered = 0

    /// §3.2 "Upon transmitting a data packet": with nothing in flight the intervals restart now.
    mutating func snapshot(now: NetInstant, inFlight: Int) -> DeliverySnapshot {
        if inFlight <= 0 {
            firstSentTime = now
            deliveredTime = now
        }
        return DeliverySnapshot(
            delivered: delivered, deliveredTime: deliveredTime, firstSentTime: firstSentTime,
            isAppLimited: appLimitedUntil != 0)
    }

    /// §3.4: the application has nothing to send although the congestion window has room: samples are
    /// application-limited until what is in flight now has been delivered.
    mutating func applicationLimited(inFlight: Int) {
        appLimitedUntil = Swift.max(delivered + inFlight, 1)
    }

    /// §3.3 "UpdateRateSample()" for one newly delivered segment of `bytes` sent at `sentAt`.
    mutating func segmentDelivered(bytes: Int, snapshot: DeliverySnapshot, sentAt: NetInstant, retransmitted: Bool, now: NetInstant) {
        guard bytes > 0 else { return }
        delivered += bytes
        deliveredTime = now
        newlyDelivered += bytes
        // The most recently sent delivered segment (largest P.delivered, later send time on ties) defines
        // the sample.
        if let p = pending, snapshot.delivered < p.prior.delivered
            || (snapshot.delivered == p.prior.delivered && sentAt < p.sentAt)
        {
            return
        }
        pending = Pending(prior: snapshot, sentAt: sentAt, retransmitted: retransmitted)
        firstSentTime = sentAt
    }

    /// §3.3 "GenerateRateSample()": the sample for the ACK just processed, nil if it delivered nothing.
    mutating func finishAck(now: NetInstant) -> RateSample? {
        defer {
            pending = nil
            newlyDelivered = 0
        }
        if appLimitedUntil != 0 && delivered > appLimitedUntil { appLimitedUntil = 0 }
        guard let p = pending else { return nil }
        let sendElapsed = p.sentAt - p.prior.firstSentTime
        let ackElapsed = deliveredTime - p.prior.deliveredTime
        return RateSample(
            delivered: delivered - p.prior.delivered, interval: Swift.max(sendElapsed, ackElapsed),
            priorDelivered: p.prior.delivered, isAppLimited: p.prior.isAppLimited, newlyDelivered: newlyDelivered,
            rtt: p.retransmitted ? nil : Swift.max(0, now - p.sentAt))
    }
}
