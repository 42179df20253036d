import Testing
import Wire
@testable import WireGuard

/// wireguard-go `ratelimiter`: 20 handshake messages per second per source IP, a bucket of 5.
@Suite struct HandshakeRateLimiterTests {
    let t0 = NetInstant(nanoseconds: 10_000_000_000)
    let source = IPAddress.v4(IPv4Address(192, 0, 2, 1))
    let other = IPAddress.v4(IPv4Address(192, 0, 2, 2))

    /// A new source starts with one message short of a full bucket, and a message needs strictly
    /// more than its cost (wireguard-go `Allow`): four at once, then one per 50 ms.
    @Test func aQuietSourceMayBurstFourThenOnePerFiftyMilliseconds() {
        var limiter = HandshakeRateLimiter()
        var burst: [Bool] = []
        for _ in 0..<8 { burst.append(limiter.allow(source, now: t0)) }
        #expect(burst == [true, true, true, true, false, false, false, false])
        let afterOne = limiter.allow(source, now: t0 + .milliseconds(1))
        let afterFifty = limiter.allow(source, now: t0 + .milliseconds(50))
        let afterFiftyOne = limiter.allow(source, now: t0 + .milliseconds(51))
        let again = limiter.allow(source, now: t0 + .milliseconds(51))
        #expect(afterOne && !afterFifty && afterFiftyOne && !again)
    }

    @Test func sustainedRateIsTwentyPerSecond() {
        var limiter = HandshakeRateLimiter()
        var allowed = 0
        // One message every millisecond for ten seconds.
        for ms in 0..<10_000 where limiter.allow(source, now: t0 + .milliseconds(ms)) { allowed += 1 }
        #expect(allowed >= 200 && allowed <= 205)
    }

    @Test func refillIsCappedAtTheBurst() {
        var limiter = HandshakeRateLimiter()
        _ = limiter.allow(source, now: t0)
        let later = t0 + .milliseconds(900)  // idle, but not long enough to be forgotten
        var allowed = 0
        for _ in 0..<7 where limiter.allow(source, now: later) { allowed += 1 }
        #expect(allowed == 4)
    }

    @Test func sourcesHaveSeparateBuckets() {
        var limiter = HandshakeRateLimiter()
        for _ in 0..<10 { _ = limiter.allow(source, now: t0) }
        let allowed5 = limiter.allow(source, now: t0)
        #expect(!allowed5)
        let allowed6 = limiter.allow(other, now: t0)
        #expect(allowed6)
    }

    @Test func idleSourcesAreForgottenAndTheTableIsBounded() {
        var limiter = HandshakeRateLimiter(capacity: 2)
        let allowed7 = limiter.allow(source, now: t0)
        #expect(allowed7)
        let allowed8 = limiter.allow(other, now: t0)
        #expect(allowed8)
        // Full: a third source is refused while the others are fresh...
        let allowed9 = limiter.allow(.v4(IPv4Address(192, 0, 2, 3)), now: t0 + .milliseconds(500))
        #expect(!allowed9)
        // ...and admitted once they have been idle past the lifetime.
        let allowed10 = limiter.allow(.v4(IPv4Address(192, 0, 2, 3)), now: t0 + .milliseconds(1600))
        #expect(allowed10)
        #expect(limiter.trackedSources == 1)
    }

    /// Under load, a peer that answered a cookie can replay its valid-mac2 initiation at will; each
    /// one past the bucket is dropped before any Diffie-Hellman work (only four reach the timestamp
    /// check, which rejects them as replays).
    @Test func underLoadValidMAC2InitiationsArePerSourceRateLimited() throws {
        let network = SimulatedNetwork(seed: 1)
        let a = network.addHost(1)
        let b = network.addHost(2, loadThreshold: 0)
        try network.pair(a, b)
        network.send(ipv4Packet(source: a.tunnelAddress, destination: b.tunnelAddress, payload: [7]), from: a)
        network.run()
        network.advance(by: .milliseconds(5400))  // the retry carries mac2 and completes
        #expect(b.delivered.count == 1)
        let initiation = try #require(network.log.last { messageType($0) == 1 })
        #expect(initiation.bytes[132..<148].contains { $0 != 0 })
        let before = b.device.drops
        for _ in 0..<20 { network.deliver(initiation) }
        #expect(b.device.drops[.staleTimestamp] - before[.staleTimestamp] == 4)
        #expect(b.device.drops[.rateLimited] - before[.rateLimited] == 16)
        // A second later the bucket has refilled.
        network.now = network.now + .seconds(1)
        network.deliver(initiation)
        #expect(b.device.drops[.staleTimestamp] - before[.staleTimestamp] == 5)
    }
}
