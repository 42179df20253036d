import WireGuard
import Wire

/// Feeds arbitrary datagrams to a device with a configured peer table (one peer with an established
/// session, so transport, response and cookie paths are reachable), then polls it. The first input
/// byte picks the source endpoint and how far the clock moves; the device must never trap.
nonisolated(unsafe) private var fixture: (device: WireGuardDevice, now: WireGuardInstant)? = nil

private func makeFixture() -> (WireGuardDevice, WireGuardInstant) {
    let start = WireGuardInstant(nanoseconds: 1_000_000_000)
    let anchor = WallClockAnchor(instant: start, unixNanoseconds: 1_700_000_000_000_000_000)
    let local = WireGuardDevice(configuration: DeviceConfiguration(
        privateKey: PrivateKey(), handshakeLoadThreshold: 4, wallClock: anchor))
    let remote = WireGuardDevice(configuration: DeviceConfiguration(privateKey: PrivateKey(), wallClock: anchor))
    let localEndpoint = Endpoint.v4(10, 250, 99, 1, port: 51820)
    let remoteEndpoint = Endpoint.v4(10, 250, 99, 2, port: 51820)
    try! local.addPeer(PeerConfiguration(publicKey: remote.publicKey, endpoint: remoteEndpoint,
                                         allowedIPs: [IPPrefix("100.64.99.2/32")!, IPPrefix("fd7a:115c:a1e0:99::/64")!]))
    try! remote.addPeer(PeerConfiguration(publicKey: local.publicKey, endpoint: localEndpoint,
                                          allowedIPs: [IPPrefix("100.64.99.1/32")!]))
    for index in 0..<8 {
        try! local.addPeer(PeerConfiguration(publicKey: PrivateKey().publicKey,
                                             allowedIPs: [IPPrefix("100.64.\(100 + index).0/24")!]))
    }
    // Establish a session so transport messages with real indices exist.
    var buffer = [UInt8](repeating: 0, count: 2048)
    try! remote.initiateHandshake(with: local.publicKey, now: start)
    for _ in 0..<4 {
        for (from, to, fromEndpoint) in [(remote, local, remoteEndpoint), (local, remote, localEndpoint)] {
            while case .datagram(_, let length) = buffer.withUnsafeMutableBytes({ from.poll(into: $0, now: start) }) {
                let result = buffer.withUnsafeMutableBytes { to.receive($0, length: length, from: fromEndpoint, now: start) }
                if case .reply(_, let replyLength) = result {
                    _ = buffer.withUnsafeMutableBytes { from.receive($0, length: replyLength, from: fromEndpoint == remoteEndpoint ? localEndpoint : remoteEndpoint, now: start) }
                }
            }
        }
    }
    return (local, start)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    if fixture == nil { fixture = makeFixture() }
    guard var (device, now) = fixture, size > 0 else { return 0 }
    let control = data[0]
    now = now + .milliseconds(Int64(control & 0x3F) * 100)
    let source = control & 0x40 == 0 ? Endpoint.v4(10, 250, 99, 2, port: 51820)
                                     : Endpoint(address: .v6(IPv6Address(high: 0xfd7a_115c_a1e0_0099, low: 7)), port: 9)
    var buffer = [UInt8](repeating: 0, count: max(size - 1, 148) + 64)
    buffer.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: data + 1, count: size - 1) }
    if control & 0x80 == 0 {
        _ = buffer.withUnsafeMutableBytes { device.receive($0, length: size - 1, from: source, now: now) }
    } else {
        // Treat the input as an outgoing packet instead.
        var out = [UInt8](repeating: 0, count: 16 + (size - 1) + WireGuardDevice.sendTailroom)
        out.withUnsafeMutableBufferPointer { ($0.baseAddress! + 16).update(from: data + 1, count: size - 1) }
        _ = out.withUnsafeMutableBytes { device.send($0, packetLength: size - 1, now: now) }
    }
    var pollBuffer = [UInt8](repeating: 0, count: 2048)
    for _ in 0..<256 {
        guard case .datagram = pollBuffer.withUnsafeMutableBytes({ device.poll(into: $0, now: now) }) else { break }
    }
    fixture = (device, now)
    return 0
}
