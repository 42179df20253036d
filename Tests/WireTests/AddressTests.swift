import Testing
import Wire

@Suite("IP addresses and prefixes")
struct AddressTests {
    @Test("IPv4 dotted quads parse and print back", arguments: ["0.0.0.0", "10.0.0.1", "255.255.255.255", "192.168.1.254"])
    func ipv4RoundTrip(text: String) throws {
        let address = try #require(IPv4Address(text))
        #expect(address.description == text)
    }

    @Test("IPv4 parsing rejects anything but a strict dotted quad",
          arguments: ["", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "1.2.3.4 ", "1..2.3", "a.b.c.d", "1.2.3.-4", "1.2.3.4/8"])
    func ipv4Rejects(text: String) {
        #expect(IPv4Address(text) == nil)
    }

    @Test("IPv4 rawValue is host order and octets are network order")
    func ipv4RawValue() {
        let address = IPv4Address(10, 1, 2, 3)
        #expect(address.rawValue == 0x0A01_0203)
        #expect(address.octets == (10, 1, 2, 3))
        #expect(IPv4Address(127, 0, 0, 53).isLoopback)
        #expect(IPv4Address(224, 0, 0, 1).isMulticast)
    }

    @Test("IPv6 text forms parse to the RFC 5952 canonical form",
          arguments: [
            ("::", "::"), ("::1", "::1"), ("1::", "1::"),
            ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),       // first of equal runs (§4.2.3)
            ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),    // a lone zero group is not compressed (§4.2.2)
            ("2001:0db8:0000:0000:0001:0000:0000:0000", "2001:db8:0:0:1::"),  // longest run wins (§4.2.3)
            ("fe80::1:2:3:4", "fe80::1:2:3:4"),
            ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),             // IPv4-mapped keeps the dotted quad (§5)
            ("64:ff9b::192.0.2.33", "64:ff9b::c000:221"),
            ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
            ("1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"),
            ("fd7a:115c:a1e0::1", "fd7a:115c:a1e0::1"),
          ])
    func ipv6Canonical(input: String, canonical: String) throws {
        let address = try #require(IPv6Address(input))
        #expect(address.description == canonical)
        #expect(IPv6Address(canonical) == address)
    }

    @Test("IPv6 parsing rejects malformed text",
          arguments: ["", ":", ":::", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "g::1", "1:", ":1",
                      "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3", "::1.2.3.4:5", "fe80::1%eth0", "[::1]", "1::2:", "::256.1.1.1",
                      "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8"])
    func ipv6Rejects(text: String) {
        #expect(IPv6Address(text) == nil)
    }

    @Test("IPv6 groups and properties")
    func ipv6Groups() throws {
        let address = try #require(IPv6Address("2001:db8:1:2:3:4:5:6"))
        #expect((0..<8).map { address[group: $0] } == [0x2001, 0xDB8, 1, 2, 3, 4, 5, 6])
        #expect(IPv6Address("fe80::1")!.isLinkLocal)
        #expect(IPv6Address("ff02::1")!.isMulticast)
        #expect(IPv6Address("fd7a:115c:a1e0::1")!.isUniqueLocal)
        #expect(IPv6Address("::ffff:10.0.0.1")!.ipv4Mapped == IPv4Address(10, 0, 0, 1))
        #expect(IPv6Address.loopback.isLoopback)
    }

    @Test("IPAddress parses either family")
    func ipAddressEither() {
        #expect(IPAddress("10.0.0.1") == .v4(IPv4Address(10, 0, 0, 1)))
        #expect(IPAddress("::1") == .v6(.loopback))
        #expect(IPAddress("nope") == nil)
    }

    @Test("prefixes parse, print, mask and contain")
    func prefixes() throws {
        let ten = try #require(IPPrefix("10.0.0.0/8"))
        #expect(ten.contains(IPv4Address(10, 255, 1, 2)))
        #expect(!ten.contains(IPv4Address(11, 0, 0, 0)))
        #expect(!ten.contains(IPv6Address.loopback))
        let host = try #require(IPPrefix("10.0.0.5/24"))
        #expect(host.description == "10.0.0.5/24")
        #expect(host.masked.description == "10.0.0.0/24")
        let v6 = try #require(IPPrefix("fd7a:115c:a1e0::/48"))
        #expect(v6.contains(IPv6Address("fd7a:115c:a1e0:ab12::1")!))
        #expect(!v6.contains(IPv6Address("fd7a:115c:a1e1::1")!))
        #expect(v6.contains(IPPrefix("fd7a:115c:a1e0:1::/64")!))
        #expect(!v6.contains(IPPrefix("fd7a:115c::/32")!))
        #expect(IPPrefix("0.0.0.0/0")!.contains(IPv4Address(1, 2, 3, 4)))
        #expect(IPPrefix("::/0")!.contains(IPv6Address("2001:db8::1")!))
        #expect(IPPrefix("2001:db8::1/127")!.contains(IPv6Address("2001:db8::")!))
        #expect(!IPPrefix("2001:db8::1/128")!.contains(IPv6Address("2001:db8::")!))
        #expect(IPPrefix("2001:db8::/65")!.masked.description == "2001:db8::/65")
        #expect(IPPrefix("192.0.2.1")?.length == 32)
        #expect(IPPrefix("::1")?.length == 128)
    }

    @Test("prefix parsing rejects bad lengths", arguments: ["10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/08", "10.0.0.0/a", "/8", "10.0.0.0/8/8"])
    func prefixRejects(text: String) {
        #expect(IPPrefix(text) == nil)
    }
}
