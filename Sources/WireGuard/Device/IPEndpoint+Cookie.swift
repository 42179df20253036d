import Wire

extension IPEndpoint {
    /// Feeds the address bytes (network order) and port (big-endian) to a MAC: the source of a
    /// handshake message is what the cookie binds to (WireGuard paper §5.4.7).
    func absorb(into state: inout BLAKE2s) {
        switch address {
        case .v4(let v4):
            withUnsafeBytes(of: v4.rawValue.bigEndian) { state.update($0) }
        case .v6(let v6):
            withUnsafeBytes(of: v6.high.bigEndian) { state.update($0) }
            withUnsafeBytes(of: v6.low.bigEndian) { state.update($0) }
        }
        withUnsafeBytes(of: port.bigEndian) { state.update($0) }
    }
}
