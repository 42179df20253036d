import Testing
import Wire

@Suite("The cores' shared time and endpoint types")
struct SharedTypesTests {
    @Test("adding a duration saturates at both ends and may go below the origin")
    func addingSaturates() {
        let t = NetInstant(nanoseconds: 1_000)
        #expect((t + .nanoseconds(500)).nanoseconds == 1_500)
        #expect((t + .nanoseconds(-3_000)).nanoseconds == -2_000)
        #expect((NetInstant(nanoseconds: .max - 1) + .seconds(1)).nanoseconds == .max)
        #expect((NetInstant(nanoseconds: .min + 1) + .seconds(-1)).nanoseconds == .min)
        #expect((t + .seconds(Int64.max)).nanoseconds == .max)
    }

    @Test("since is the elapsed duration, zero when the other instant is later")
    func sinceClampsToZero() {
        let early = NetInstant(nanoseconds: -5_000_000), late = NetInstant(nanoseconds: 2_000_000_000)
        #expect(late.since(early) == .nanoseconds(2_005_000_000))
        #expect(early.since(late) == .zero)
        #expect(late.since(late) == .zero)
        #expect(NetInstant(nanoseconds: .max).since(NetInstant(nanoseconds: .min)) == .nanoseconds(Int64.max))
    }

    @Test("the package-level difference is signed and saturating; milliseconds truncate")
    func differenceAndMilliseconds() {
        let a = NetInstant(nanoseconds: 3_999_999), b = NetInstant(nanoseconds: 7_000_000)
        #expect(b - a == 3_000_001)
        #expect(a - b == -3_000_001)
        #expect(NetInstant(nanoseconds: .min) - NetInstant(nanoseconds: 1) == .min)
        #expect(a.milliseconds == 3)
        #expect((a + 5).nanoseconds == 4_000_004)
        #expect(earliest(a, b) == a && earliest(nil, b) == b && earliest(a, nil) == a && earliest(nil, nil) == nil)
    }

    @Test("endpoints print as host:port and [v6]:port, and .v4 builds from octets")
    func endpoints() throws {
        #expect(IPEndpoint.v4(192, 0, 2, 1, port: 51820) == IPEndpoint(.v4(IPv4Address(192, 0, 2, 1)), 51820))
        #expect(IPEndpoint.v4(192, 0, 2, 1, port: 51820).description == "192.0.2.1:51820")
        #expect(IPEndpoint(try #require(IPAddress("2001:db8::1")), 443).description == "[2001:db8::1]:443")
        #expect(IPEndpoint.v4(10, 0, 0, 1, port: 1) != IPEndpoint.v4(10, 0, 0, 1, port: 2))
    }
}
