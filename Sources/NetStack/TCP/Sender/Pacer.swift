import Wire

/// Spaces transmissions at a rate the congestion policy chooses (BBR's pacing rate), as Linux's
/// earliest-departure-time pacing does: each segment moves the next departure time on by its length
/// over the rate. Up to `quantum` bytes may leave back to back — Linux's TSO autosizing sends about
/// 1 ms of data (at least two segments, at most 64 KiB) per burst — so the node's event loop is not
/// woken per segment.
struct Pacer: Hashable {
    /// Linux `tcp_tso_autosize`: the burst is the rate's worth of `sk_pacing_shift` = 10 (≈ 1 ms).
    static let burstDuration: Int64 = 1_000_000
    /// Linux's GSO ceiling bounds a burst at 64 KiB.
    static let maximumBurst = 64 * 1024
    /// Linux's minimum TSO burst: two segments.
    static let minimumBurstSegments = 2

    /// When the next segment may leave (earliest departure time); `.zero` before any was sent.
    private(set) var nextDeparture = NetInstant.zero

    /// The burst `rate` (bytes per second) allows for segments of `mss` bytes.
    static func quantum(rate: Double, mss: Int) -> Int {
        let perBurst = Int(rate * Double(burstDuration) / 1e9)
        return Swift.max(minimumBurstSegments * mss, Swift.min(perBurst, maximumBurst))
    }

    /// Whether a segment may leave at `now`.
    func allows(now: NetInstant) -> Bool { nextDeparture <= now }

    /// A segment of `bytes` left at `now` at `rate` bytes per second: the next departure moves on by its
    /// transmission time. After an idle stretch at most one quantum of credit has built up.
    mutating func sent(bytes: Int, now: NetInstant, rate: Double, mss: Int) {
        guard rate > 0 else { return }
        // Credit for the quantum less the segment that starts the burst: a burst is one quantum.
        let credit = Int64(Double(Swift.max(0, Self.quantum(rate: rate, mss: mss) - bytes)) * 1e9 / rate)
        let start = Swift.max(nextDeparture, now + (-credit))
        nextDeparture = start + Int64(Double(bytes) * 1e9 / rate)
    }

    /// Forget the schedule (the policy stopped pacing).
    mutating func reset() { nextDeparture = .zero }
}
