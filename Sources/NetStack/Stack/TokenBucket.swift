import Wire

/// A token bucket for rate-limiting error replies (RFC 4443 §2.4 (f) suggests a token bucket).
struct TokenBucket {
    let ratePerSecond: Int
    let burst: Int
    private var tokens: Int
    private var lastRefill: NetInstant

    init(ratePerSecond: Int, burst: Int) {
        self.ratePerSecond = Swift.max(0, ratePerSecond)
        self.burst = Swift.max(1, burst)
        tokens = self.burst
        lastRefill = .zero
    }

    /// Takes a token if one is available at `now`.
    mutating func take(now: NetInstant) -> Bool {
        if ratePerSecond > 0 {
            let elapsed = now - lastRefill
            if elapsed > 0 {
                let newTokens = Int(Swift.min(elapsed, 1_000_000_000_000) * Int64(ratePerSecond) / 1_000_000_000)
                if newTokens > 0 {
                    tokens = Swift.min(burst, tokens + newTokens)
                    lastRefill = now
                }
            } else if elapsed < 0 {
                lastRefill = now
            }
        }
        guard tokens > 0 else { return false }
        tokens -= 1
        return true
    }
}
