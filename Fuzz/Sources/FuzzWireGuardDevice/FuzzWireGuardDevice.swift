#if canImport(Glibc)
import Glibc
#endif
import CFuzzCrypto
import WireGuard
import Wire

/// Structure-aware fuzzing of a WireGuard device (`local`) against a real peer device (`remote`),
/// with fixed keys, so inputs reach the handshake and transport state machines instead of stopping
/// at mac1.
///
/// Each input is a program: every operation is an opcode byte and its operands. Operations make
/// the two devices produce real messages (initiations, responses, cookie replies under load,
/// keepalives, transport data carrying bytes from the input), put them on a simulated wire, deliver
/// them — whole, with one byte changed, or again (replayed) — move the clock, or hand the device raw
/// bytes. A fresh pair of devices serves each input, and libsodium's randomness starts over at every
/// input (CFuzzCrypto: a deterministic stream, and a memo of X25519 results, which made the target
/// several times faster), so every run replays exactly from its input.
///
/// Properties checked on every step (a violation traps, which libFuzzer reports as a crash):
/// - an unchanged transport message that decrypts delivers exactly the packet the peer sent;
/// - a transport message with any byte changed is never delivered;
/// - a transport message delivered once is never delivered again (replay window);
/// - a delivered packet lies inside the receive buffer;
/// - every drop is counted (the device's drop total grows by one per `.dropped`).

/// The fixed identities: the same keys in every run.
private let localKey = PrivateKey(Key32(bytes: [UInt8](repeating: 0x11, count: 32))!)
private let remoteKey = PrivateKey(Key32(bytes: [UInt8](repeating: 0x22, count: 32))!)
private let localEndpoint = IPEndpoint.v4(10, 250, 99, 1, port: 51820)
private let remoteEndpoint = IPEndpoint.v4(10, 250, 99, 2, port: 51820)
private let localAddress: [UInt8] = [100, 64, 99, 1]
private let remoteAddress: [UInt8] = [100, 64, 99, 2]

/// The peer configurations, parsed once per process (the same values in every input).
private let localPeer = PeerConfiguration(
    publicKey: remoteKey.publicKey, endpoint: remoteEndpoint,
    allowedIPs: [IPPrefix("100.64.99.2/32")!, IPPrefix("fd7a:115c:a1e0:99::/64")!])
private let remotePeer = PeerConfiguration(
    publicKey: localKey.publicKey, endpoint: localEndpoint, allowedIPs: [IPPrefix("100.64.99.1/32")!])

/// A datagram on the simulated wire, with the inner packet it carries when it is transport data
/// made by `remote` for `local`.
private struct WireDatagram {
    var bytes: [UInt8]
    var toLocal: Bool
    var innerPacket: [UInt8]?
    var deliveredAsPacket = false
}

/// Reads operands from the input; past its end, zeros.
private struct Program {
    let data: UnsafeBufferPointer<UInt8>
    var offset = 0
    var isAtEnd: Bool { offset >= data.count }
    mutating func byte() -> UInt8 {
        defer { offset += 1 }
        return offset < data.count ? data[offset] : 0
    }
    mutating func bytes(_ count: Int) -> [UInt8] {
        let end = min(data.count, offset + count)
        defer { offset = end }
        return offset < end ? Array(data[offset..<end]) : []
    }
}

private final class Session {
    var now = NetInstant(nanoseconds: 1_000_000_000)
    let local: WireGuardDevice
    let remote: WireGuardDevice
    var wire: [WireDatagram] = []

    init() {
        let anchor = WallClockAnchor(instant: now, unixNanoseconds: 1_700_000_000_000_000_000)
        local = WireGuardDevice(configuration: DeviceConfiguration(
            privateKey: localKey, wallClock: anchor, random: RandomSource(seed: 1)))
        remote = WireGuardDevice(configuration: DeviceConfiguration(
            privateKey: remoteKey, wallClock: anchor, random: RandomSource(seed: 2)))
        try! local.addPeer(localPeer)
        try! remote.addPeer(remotePeer)
    }

    /// Everything both devices want to send, onto the wire.
    func pollBoth() {
        var buffer = [UInt8](repeating: 0, count: 2048)
        for (device, toLocal) in [(local, false), (remote, true)] {
            for _ in 0..<64 {
                guard case .datagram(_, let length) = buffer.withUnsafeMutableBytes({ device.poll(into: $0, now: now) }) else { break }
                wire.append(WireDatagram(bytes: Array(buffer[0..<length]), toLocal: toLocal))
            }
        }
        if wire.count > 64 { wire.removeFirst(wire.count - 64) }
    }

    /// An IPv4 packet from `source` to `destination` carrying `payload` (checksum left zero).
    func ipv4(from source: [UInt8], to destination: [UInt8], payload: [UInt8]) -> [UInt8] {
        let total = 20 + payload.count
        var packet: [UInt8] = [0x45, 0, UInt8(total >> 8), UInt8(total & 0xFF), 0, 0, 0, 0, 64, 17, 0, 0]
        packet += source + destination + payload
        return packet
    }

    /// `device` encrypts `packet`; a datagram it produces goes on the wire.
    func send(_ packet: [UInt8], from device: WireGuardDevice, toLocal: Bool) {
        var buffer = [UInt8](repeating: 0, count: 16 + packet.count + WireGuardDevice.sendTailroom)
        buffer.replaceSubrange(16..<(16 + packet.count), with: packet)
        if case .datagram(_, let length) = buffer.withUnsafeMutableBytes({ device.send($0, packetLength: packet.count, now: now) }) {
            wire.append(WireDatagram(bytes: Array(buffer[0..<length]), toLocal: toLocal, innerPacket: toLocal ? packet : nil))
        }
    }

    /// Delivers `bytes` to a device and checks what it says.
    @discardableResult
    func deliver(_ bytes: [UInt8], toLocal: Bool, from source: IPEndpoint? = nil) -> ReceiveResult {
        let device = toLocal ? local : remote
        var buffer = bytes + [UInt8](repeating: 0, count: max(0, 148 - bytes.count) + 32)
        let dropsBefore = device.drops.total
        let result = buffer.withUnsafeMutableBytes {
            device.receive($0, length: bytes.count, from: source ?? (toLocal ? remoteEndpoint : localEndpoint), now: now)
        }
        switch result {
        case .packet(_, let range):
            precondition(range.lowerBound >= 0 && range.upperBound <= bytes.count, "packet outside the datagram")
        case .reply(_, let length):
            precondition(length > 0 && length <= buffer.count)
            wire.append(WireDatagram(bytes: Array(buffer[0..<length]), toLocal: !toLocal))
        case .dropped:
            precondition(device.drops.total == dropsBefore + 1, "a drop was not counted")
        case .processed:
            break
        }
        if case .packet(_, let range) = result { lastDelivered = Array(buffer[range]) }
        if traceRuns {
            print("deliver type \(bytes.first ?? 0), \(bytes.count) bytes to \(toLocal ? "local" : "remote"): \(result)")
        }
        return result
    }
    var lastDelivered: [UInt8] = []

    func run(_ program: inout Program) {
        var steps = 0
        while !program.isAtEnd, steps < 64 {
            steps += 1
            switch program.byte() % 10 {
            case 0:  // the remote starts a handshake (a real initiation)
                try! remote.initiateHandshake(with: localKey.publicKey, now: now)
            case 1:  // we start one
                try! local.initiateHandshake(with: remoteKey.publicKey, now: now)
            case 2:  // the remote sends a packet with payload from the input
                let length = Int(program.byte())
                send(ipv4(from: remoteAddress, to: localAddress, payload: program.bytes(length)), from: remote, toLocal: true)
            case 3:  // we send a packet (to the peer, or anywhere)
                let length = Int(program.byte())
                let destination = program.byte() & 1 == 0 ? remoteAddress : program.bytes(4)
                send(ipv4(from: localAddress, to: destination + [UInt8](repeating: 0, count: 4 - destination.count),
                          payload: program.bytes(length)), from: local, toLocal: false)
            case 4, 5:  // deliver a datagram from the wire, unchanged or with one byte changed
                guard !wire.isEmpty else { continue }
                let index = Int(program.byte()) % wire.count
                let position = Int(program.byte())
                let change = program.byte()
                var datagram = wire[index]
                var bytes = datagram.bytes
                let changed = change != 0 && position < bytes.count
                if changed { bytes[position] ^= change }
                let result = deliver(bytes, toLocal: datagram.toLocal)
                if case .packet = result, datagram.toLocal, bytes.first == 4 {
                    precondition(!changed, "a changed transport message was delivered")
                    precondition(!datagram.deliveredAsPacket, "a transport message was delivered twice")
                    if let inner = datagram.innerPacket { precondition(lastDelivered == inner, "delivered bytes differ") }
                    datagram.deliveredAsPacket = true
                    wire[index] = datagram
                }
            case 6:  // time passes (timers fire: retries, keepalives, rekeys, expiry)
                now = now + .milliseconds(Int64(program.byte()) * 250)
            case 7:  // raw bytes from the input, from the peer's endpoint or a stranger's
                let length = Int(program.byte())
                let stranger = program.byte() & 1 == 1
                deliver(program.bytes(length), toLocal: true, from: stranger ? .v4(192, 0, 2, 7, port: 4444) : nil)
            case 8:  // load: we demand cookies (or stop demanding them)
                local.handshakeLoadThreshold = program.byte() & 1 == 0 ? 0 : 1000
            default:  // the remote demands cookies (or not)
                remote.handshakeLoadThreshold = program.byte() & 1 == 0 ? 0 : 1000
            }
            pollBoth()
        }
    }
}

/// `FUZZ_TRACE=1` prints what every delivery did (to check that a seed reaches what it is meant to).
private let traceRuns = getenv("FUZZ_TRACE") != nil

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    fuzz_crypto_begin_input()
    let session = Session()
    var program = Program(data: UnsafeBufferPointer(start: data, count: size))
    session.run(&program)
    return 0
}
