import Glibc
import Testing
@testable import UDPTransport

@Suite("UDPEndpoint")
struct UDPEndpointTests {
    @Test func ipv4AndItsMappedIPv6FormAreTheSameAddress() {
        let plain = UDPEndpoint.Address("192.0.2.7")
        let mapped = UDPEndpoint.Address("::ffff:192.0.2.7")
        #expect(plain != nil)
        #expect(plain == mapped)
        #expect(plain?.isIPv4 == true)
        #expect(plain?.ipv4Value == 0xC000_0207)
        #expect(plain?.description == "192.0.2.7")
    }

    @Test func ipv6TextRoundTripsInRFC5952Form() {
        let address = UDPEndpoint.Address("fd7a:115c:a1e0:0:0:0:0:1")
        #expect(address?.isIPv4 == false)
        #expect(address?.description == "fd7a:115c:a1e0::1")
        #expect(UDPEndpoint(address: address!, port: 41641).description == "[fd7a:115c:a1e0::1]:41641")
        #expect(UDPEndpoint.Address("not an address") == nil)
    }

    @Test func socketAddressesOfBothFamiliesConvertBothWays() {
        let v4 = UDPEndpoint.loopbackIPv4(port: 51820)
        var storage = sockaddr_in6()
        let length6 = v4.write(to: &storage, family: AF_INET6)
        #expect(length6 == socklen_t(MemoryLayout<sockaddr_in6>.size))
        let back6 = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { UDPEndpoint(socketAddress: $0, length: Int(length6!)) }
        }
        #expect(back6 == v4)

        let length4 = v4.write(to: &storage, family: AF_INET)
        #expect(length4 == socklen_t(MemoryLayout<sockaddr_in>.size))
        let back4 = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { UDPEndpoint(socketAddress: $0, length: Int(length4!)) }
        }
        #expect(back4 == v4)

        #expect(UDPEndpoint.loopbackIPv6(port: 1).write(to: &storage, family: AF_INET) == nil)
    }

    @Test func shortOrForeignSocketAddressesAreRejected() {
        var storage = sockaddr_in6()
        storage.sin6_family = sa_family_t(AF_INET6)
        let short = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { UDPEndpoint(socketAddress: $0, length: 8) }
        }
        #expect(short == nil)
        storage.sin6_family = sa_family_t(AF_UNIX)
        let foreign = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                UDPEndpoint(socketAddress: $0, length: MemoryLayout<sockaddr_in6>.size)
            }
        }
        #expect(foreign == nil)
    }
}
