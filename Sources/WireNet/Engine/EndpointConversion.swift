import UDPTransport
import Wire
import WireGuard

// The transport speaks `UDPEndpoint` (16-byte addresses, IPv4 mapped); WireGuard speaks `IPEndpoint`
// (Wire's `IPAddress`). These conversions are the only place the two meet.

extension IPEndpoint {
    init(_ endpoint: UDPEndpoint) {
        if let v4 = endpoint.address.ipv4Value {
            self.init(address: .v4(IPv4Address(rawValue: v4)), port: endpoint.port)
        } else {
            self.init(address: .v6(IPv6Address(high: endpoint.address.high, low: endpoint.address.low)), port: endpoint.port)
        }
    }
}

extension UDPEndpoint {
    init(_ endpoint: IPEndpoint) {
        switch endpoint.address {
        case .v4(let v4):
            self.init(address: .init(ipv4: v4.rawValue), port: endpoint.port)
        case .v6(let v6):
            var address = UDPEndpoint.Address.any
            address.high = v6.high
            address.low = v6.low
            self.init(address: address, port: endpoint.port)
        }
    }
}
