import Wire

/// The device-wide bound on handshake messages examined per second while under load (an
/// implementation choice standing in for wireguard-go's bounded handshake queue: its receive routine
/// drops a handshake message when `queue.handshake` already holds `QueueHandshakeSize` = 1024, so the
/// data path never waits for handshake work).
///
/// A token bucket in nanoseconds of refill: one message costs `1 s / perSecond`, and the bucket holds
/// a tenth of a second, so a quiet device may examine a tenth of a second's worth at once. It starts
/// full. Sans-IO: time comes in as `now`. Per-source fairness is the ``HandshakeRateLimiter``'s job;
/// this one bounds what any number of (spoofed) sources together can cost.
struct HandshakeBudget {
    /// What the bucket holds: a tenth of a second of refill.
    static let capacity: Int64 = 100_000_000

    private var tokens = HandshakeBudget.capacity
    private var lastRefill: NetInstant?

    /// Whether one more message may be examined at `now` with `perSecond` messages a second; takes
    /// its cost if so. `perSecond <= 0` means no bound.
    mutating func take(now: NetInstant, perSecond: Int) -> Bool {
        guard perSecond > 0 else { return true }
        let cost = max(1, 1_000_000_000 / Int64(perSecond))
        if let last = lastRefill {
            tokens = min(Self.capacity, tokens &+ max(0, now.since(last).saturatedNanoseconds))
        }
        lastRefill = now
        guard tokens >= cost else { return false }
        tokens -= cost
        return true
    }
}
