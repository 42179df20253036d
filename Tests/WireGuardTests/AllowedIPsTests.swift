import Testing
@testable import WireGuard

@Suite struct AllowedIPsTests {
    @Test func longestPrefixWinsForIPv4() {
        var table = AllowedIPs<String>()
        table.insert(AllowedIP("0.0.0.0/0")!, value: "default")
        table.insert(AllowedIP("100.64.0.0/10")!, value: "cgnat")
        table.insert(AllowedIP("100.64.4.0/24")!, value: "subnet")
        table.insert(AllowedIP("100.64.4.2/32")!, value: "host")
        #expect(table.lookup(v4: ip(100, 64, 4, 2)) == "host")
        #expect(table.lookup(v4: ip(100, 64, 4, 3)) == "subnet")
        #expect(table.lookup(v4: ip(100, 65, 0, 1)) == "cgnat")
        #expect(table.lookup(v4: ip(8, 8, 8, 8)) == "default")
    }

    @Test func longestPrefixWinsForIPv6() {
        var table = AllowedIPs<Int>()
        table.insert(AllowedIP("fd7a:115c:a1e0::/48")!, value: 48)
        table.insert(AllowedIP("fd7a:115c:a1e0:4::/64")!, value: 64)
        table.insert(AllowedIP("fd7a:115c:a1e0:4::2/128")!, value: 128)
        #expect(table.lookup(v6High: 0xfd7a_115c_a1e0_0004, low: 2) == 128)
        #expect(table.lookup(v6High: 0xfd7a_115c_a1e0_0004, low: 3) == 64)
        #expect(table.lookup(v6High: 0xfd7a_115c_a1e0_0009, low: 3) == 48)
        #expect(table.lookup(v6High: 0xfd7a_115c_a1e1_0000, low: 0) == nil)
    }

    @Test func familiesAreSeparate() {
        var table = AllowedIPs<Int>()
        table.insert(AllowedIP("0.0.0.0/0")!, value: 4)
        #expect(table.lookup(v6High: 0, low: 1) == nil)
        table.insert(AllowedIP("::/0")!, value: 6)
        #expect(table.lookup(v6High: 0, low: 1) == 6)
        #expect(table.lookup(v4: 1) == 4)
    }

    @Test func hostBitsBeyondThePrefixAreCleared() {
        #expect(AllowedIP("10.1.2.3/8") == AllowedIP("10.0.0.0/8"))
        #expect(AllowedIP("10.1.2.3/8")?.description == "10.0.0.0/8")
        #expect(AllowedIP("fd7a:115c:a1e0:4::2/48") == AllowedIP("fd7a:115c:a1e0::/48"))
    }

    @Test func removingAPeersPrefixesFallsBackToShorterOnes() {
        var table = AllowedIPs<String>()
        table.insert(AllowedIP("100.64.0.0/10")!, value: "a")
        table.insert(AllowedIP("100.64.4.0/24")!, value: "b")
        table.insert(AllowedIP("fd7a::/16")!, value: "b")
        table.removeAll { $0 == "b" }
        #expect(table.lookup(v4: ip(100, 64, 4, 9)) == "a")
        #expect(table.lookup(v6High: 0xfd7a_0000_0000_0000, low: 0) == nil)
        #expect(table.count == 1)
    }

    @Test func reinsertingAPrefixReplacesItsValue() {
        var table = AllowedIPs<String>()
        table.insert(AllowedIP("100.64.4.0/24")!, value: "a")
        table.insert(AllowedIP("100.64.4.0/24")!, value: "b")
        #expect(table.lookup(v4: ip(100, 64, 4, 1)) == "b")
        #expect(table.count == 1)
    }

    @Test func malformedPrefixTextIsRejected() {
        for text in ["10.0.0.0/33", "10.0.0/8", "1.2.3.256", "::1/129", "1:2:3:4:5:6:7:8:9", "x::/8", "10.0.0.0/-1", ""] {
            #expect(AllowedIP(text) == nil, "\(text)")
        }
    }
}
