import Testing
import Wire
@testable import WireGuard

@Suite struct AllowedIPsTests {
    @Test func longestPrefixWinsForIPv4() {
        var table = AllowedIPs<String>()
        table.insert(IPPrefix("0.0.0.0/0")!, value: "default")
        table.insert(IPPrefix("100.64.0.0/10")!, value: "cgnat")
        table.insert(IPPrefix("100.64.4.0/24")!, value: "subnet")
        table.insert(IPPrefix("100.64.4.2/32")!, value: "host")
        #expect(table.lookup(IPv4Address(100, 64, 4, 2)) == "host")
        #expect(table.lookup(IPv4Address(100, 64, 4, 3)) == "subnet")
        #expect(table.lookup(IPv4Address(100, 65, 0, 1)) == "cgnat")
        #expect(table.lookup(IPv4Address(8, 8, 8, 8)) == "default")
    }

    @Test func longestPrefixWinsForIPv6() {
        var table = AllowedIPs<Int>()
        table.insert(IPPrefix("fd7a:115c:a1e0::/48")!, value: 48)
        table.insert(IPPrefix("fd7a:115c:a1e0:4::/64")!, value: 64)
        table.insert(IPPrefix("fd7a:115c:a1e0:4::2/128")!, value: 128)
        #expect(table.lookup(IPv6Address(high: 0xfd7a_115c_a1e0_0004, low: 2)) == 128)
        #expect(table.lookup(IPv6Address(high: 0xfd7a_115c_a1e0_0004, low: 3)) == 64)
        #expect(table.lookup(IPv6Address(high: 0xfd7a_115c_a1e0_0009, low: 3)) == 48)
        #expect(table.lookup(IPv6Address(high: 0xfd7a_115c_a1e1_0000, low: 0)) == nil)
    }

    @Test func familiesAreSeparate() {
        var table = AllowedIPs<Int>()
        table.insert(IPPrefix("0.0.0.0/0")!, value: 4)
        #expect(table.lookup(IPv6Address(high: 0, low: 1)) == nil)
        table.insert(IPPrefix("::/0")!, value: 6)
        #expect(table.lookup(IPv6Address(high: 0, low: 1)) == 6)
        #expect(table.lookup(IPv4Address(rawValue: 1)) == 4)
    }

    @Test func hostBitsBeyondThePrefixAreIgnored() {
        var table = AllowedIPs<Int>()
        table.insert(IPPrefix("10.1.2.3/8")!, value: 1)
        table.insert(IPPrefix("10.0.0.0/8")!, value: 2)
        #expect(table.count == 1)
        #expect(table.lookup(IPv4Address(10, 200, 0, 1)) == 2)
    }

    @Test func removingAPeersPrefixesFallsBackToShorterOnes() {
        var table = AllowedIPs<String>()
        table.insert(IPPrefix("100.64.0.0/10")!, value: "a")
        table.insert(IPPrefix("100.64.4.0/24")!, value: "b")
        table.insert(IPPrefix("fd7a::/16")!, value: "b")
        table.removeAll { $0 == "b" }
        #expect(table.lookup(IPv4Address(100, 64, 4, 9)) == "a")
        #expect(table.lookup(IPv6Address(high: 0xfd7a_0000_0000_0000, low: 0)) == nil)
        #expect(table.count == 1)
    }

    @Test func reinsertingAPrefixReplacesItsValue() {
        var table = AllowedIPs<String>()
        table.insert(IPPrefix("100.64.4.0/24")!, value: "a")
        table.insert(IPPrefix("100.64.4.0/24")!, value: "b")
        #expect(table.lookup(IPv4Address(100, 64, 4, 1)) == "b")
        #expect(table.count == 1)
    }

}
