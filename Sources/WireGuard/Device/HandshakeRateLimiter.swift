import Wire

/// Per-source token buckets for handshake messages under load (wireguard-go `ratelimiter.Ratelimiter`;
/// the kernel's `ratelimiter.c` uses the same numbers).
///
/// Under load the device demands mac2, which proves the sender receives at its source address — but a
/// sender that answers one cookie round trip can then send valid-mac2 initiations as fast as it likes,
/// each costing the device two X25519 and an AEAD before the timestamp check can reject it. The bucket
/// bounds that work per source IP address: `packetsPerSecond` sustained, a bucket of `burst` (a new
/// source gets four at once: it starts one cost short of full and a message needs strictly more than
/// its cost, as in wireguard-go).
///
/// Sans-IO: time comes in as `now`. Entries idle for longer than `idleLifetime` are swept (at most
/// once per `idleLifetime`); at most `capacity` sources are tracked, and a new source beyond that is
/// refused until a sweep frees room (under such a flood, refusing is the safe side).
struct HandshakeRateLimiter {
    /// Sustained handshake messages per second per source (wireguard-go `packetsPerSecond`).
    static let packetsPerSecond: Int64 = 20
    /// Messages a quiet source may send at once (wireguard-go `packetsBurstable`).
    static let burst: Int64 = 5
    /// Token cost of one message, in nanoseconds of refill (wireguard-go `packetCost`).
    static let packetCost: Int64 = 1_000_000_000 / packetsPerSecond
    static let maxTokens: Int64 = packetCost * burst
    /// Entries idle this long are forgotten (wireguard-go `garbageCollectTime`).
    static let idleLifetime = Duration.seconds(1)
    /// Most sources tracked at once (an implementation choice: bounds memory under a spoofed flood;
    /// wireguard-go's table is unbounded).
    static let defaultCapacity = 65536

    private struct Entry {
        var lastTime: NetInstant
        var tokens: Int64
    }

    private var table: [IPAddress: Entry] = [:]
    private var lastSweep = NetInstant.zero
    let capacity: Int

    init(capacity: Int = HandshakeRateLimiter.defaultCapacity) { self.capacity = capacity }

    /// Sources currently tracked.
    var trackedSources: Int { table.count }

    /// Whether one more handshake message from `source` may be processed at `now`; takes a token if so.
    mutating func allow(_ source: IPAddress, now: NetInstant) -> Bool {
        if !table.isEmpty, now.since(lastSweep) > Self.idleLifetime { sweep(now: now) }
        guard var entry = table[source] else {
            if table.count >= capacity {
                sweep(now: now)
                guard table.count < capacity else { return false }
            }
            table[source] = Entry(lastTime: now, tokens: Self.maxTokens - Self.packetCost)
            return true
        }
        entry.tokens = min(Self.maxTokens, entry.tokens &+ now.since(entry.lastTime).saturatedNanoseconds)
        entry.lastTime = now
        let allowed = entry.tokens > Self.packetCost
        if allowed { entry.tokens -= Self.packetCost }
        table[source] = entry
        return allowed
    }

    /// Forgets sources idle for longer than ``idleLifetime``.
    private mutating func sweep(now: NetInstant) {
        lastSweep = now
        table = table.filter { now.since($0.value.lastTime) <= Self.idleLifetime }
    }
}
