import Wire

/// The RFC 6298 round-trip-time estimator and retransmission timeout, with exponential backoff.
///
/// All values are nanoseconds. Karn's rule (RFC 6298 §3) is the caller's job: it must not feed samples
/// taken from retransmitted segments unless timestamps disambiguate them (RFC 7323 §4).
struct RetransmissionTimeout {
    /// RFC 6298 §2.1: before the first sample RTO is 1 second.
    static let initialRTO: Int64 = 1_000_000_000
    /// RFC 6298 §2: clock granularity G (our timestamps tick in milliseconds).
    static let granularity: Int64 = 1_000_000
    /// RFC 6298 §2.3: alpha = 1/8, beta = 1/4 (implemented as shifts).
    static let alphaShift: Int64 = 3
    static let betaShift: Int64 = 2

    let minimum: Int64
    let maximum: Int64
    private(set) var smoothedRTT: Int64? = nil
    private(set) var rttVariance: Int64 = 0
    /// The timeout before backoff.
    private(set) var baseRTO: Int64
    /// Number of consecutive backoffs applied (RFC 6298 §5.5).
    private(set) var backoffCount = 0

    init(minimum: Int64, maximum: Int64) {
        self.minimum = minimum
        self.maximum = Swift.max(minimum, maximum)
        baseRTO = Swift.min(Swift.max(Self.initialRTO, minimum), self.maximum)
    }

    /// The current timeout, including backoff, clamped to `maximum` (RFC 6298 §2.5).
    var current: Int64 {
        var value = baseRTO
        for _ in 0..<Swift.min(backoffCount, 30) {
            value = value.addingSaturating(value)
            if value >= maximum { return maximum }
        }
        return Swift.min(value, maximum)
    }

    /// Feeds one RTT measurement (RFC 6298 §2.2 and §2.3).
    mutating func sample(_ rtt: Int64) {
        let r = Swift.max(rtt, 0)
        if let srtt = smoothedRTT {
            let delta = srtt > r ? srtt - r : r - srtt
            rttVariance = rttVariance - (rttVariance >> Self.betaShift) + (delta >> Self.betaShift)
            smoothedRTT = srtt - (srtt >> Self.alphaShift) + (r >> Self.alphaShift)
        } else {
            smoothedRTT = r
            rttVariance = r / 2
        }
        let srtt = smoothedRTT ?? r
        let rto = srtt.addingSaturating(Swift.max(Self.granularity, rttVariance.addingSaturating(rttVariance).addingSaturating(rttVariance.addingSaturating(rttVariance))))
        // RFC 6298 §2.4 / §2.5: clamp to the configured floor and ceiling.
        baseRTO = Swift.min(Swift.max(rto, minimum), maximum)
        // A new sample after backoff means the path answers again (RFC 6298 §5, note after 5.7).
        backoffCount = 0
    }

    /// RFC 6298 §5.5: double the timeout after it expires.
    mutating func backOff() { backoffCount += 1 }

    /// Forget backoff (an ACK for new data arrived).
    mutating func resetBackoff() { backoffCount = 0 }
}
