import Foundation
import Relay
import RelayTransport
import Testing
import WireGuard

func monotonicNow() -> NetInstant {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return NetInstant(nanoseconds: UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec))
}

/// A DERP client with what a test needs to watch it: its key and everything it reported.
final class Station {
    let key = PrivateKey()
    let client: DERPClient
    var received: [(source: PublicKey, bytes: [UInt8])] = []
    var established = 0
    var closures: [String] = []
    var gone: [(PublicKey, DERPPeerGoneReason)] = []

    init(map: DERPMap, home: Int = 900, plainHTTP: Bool = false, timing: DERPClientSession.Timing = .init()) {
        var configuration = DERPClient.Configuration(privateKey: key)
        configuration.timing = timing
        configuration.plainHTTPForTestRelays = plainHTTP
        configuration.minimumBackoff = .milliseconds(50)
        configuration.maximumBackoff = .milliseconds(400)
        client = DERPClient(configuration: configuration)
        client.setMap(map, home: home, now: monotonicNow())
    }

    func handle(_ event: DERPClient.Event) {
        switch event {
        case .established: established += 1
        case let .packet(_, source, payload): received.append((source, Array(payload)))
        case let .peerGone(_, key, reason): gone.append((key, reason))
        case let .closed(_, reason, _): closures.append(reason)
        }
    }
}

/// Runs the stations' clients in one poll loop (as the engine does) until `done` or `seconds` pass.
/// Returns whether `done` became true.
@discardableResult
func pump(_ stations: [Station], seconds: Double = 10, until done: () -> Bool) -> Bool {
    let end = monotonicNow() + .milliseconds(Int64(seconds * 1000))
    var fds: [pollfd] = []
    var ranges: [Range<Int>] = []
    while true {
        if done() { return true }
        let now = monotonicNow()
        if now >= end { return false }
        fds.removeAll(keepingCapacity: true)
        ranges.removeAll(keepingCapacity: true)
        var deadline = end
        for station in stations {
            let start = fds.count
            station.client.appendPollDescriptors(to: &fds)
            ranges.append(start..<fds.count)
            if let next = station.client.nextDeadline(now: now) { deadline = min(deadline, next) }
        }
        let timeout = Int32(clamping: max(0, min(50, Int64(deadline.since(now).components.seconds * 1000
            + deadline.since(now).components.attoseconds / 1_000_000_000_000_000))))
        _ = poll(&fds, nfds_t(fds.count), timeout)
        let after = monotonicNow()
        fds.withUnsafeBufferPointer { all in
            for (station, range) in zip(stations, ranges) {
                station.client.service(now: after, polled: UnsafeBufferPointer(rebasing: all[range]), station.handle)
            }
        }
    }
}

/// A packet whose bytes say which packet it is.
func numberedPacket(_ n: Int, size: Int = 1200) -> [UInt8] {
    (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ n) }
}

@Suite("DERP client against the Go test relay", .serialized)
struct DERPClientRelayTests {
    /// A sends `count` numbered packets to B through the relay, in rounds small enough for the
    /// relay's per-client queue, and B must receive every one, intact, in order.
    func exchange(_ a: Station, _ b: Station, count: Int) {
        var sent = 0
        while sent < count {
            let round = min(32, count - sent)
            for n in sent..<(sent + round) {
                let outcome = numberedPacket(n).withUnsafeBytes { a.client.send($0, to: b.key.publicKey, region: 900, now: monotonicNow()) }
                #expect(outcome == .sent || outcome == .queued)
            }
            sent += round
            #expect(pump([a, b]) { b.received.count == sent }, "B received \(b.received.count) of \(sent)")
            if b.received.count != sent { return }
        }
        for (n, packet) in b.received.enumerated() {
            #expect(packet.source == a.key.publicKey)
            #expect(packet.bytes == numberedPacket(n), "packet \(n) differs")
        }
    }

    @Test("over TLS (InsecureForTests: no certificate check), packets go from one client to another intact and in order")
    func tlsRelay() throws {
        let relay = try DERPRelayProcess()
        let a = Station(map: relay.map()), b = Station(map: relay.map())
        #expect(pump([a, b]) { a.client.isEstablished(region: 900) && b.client.isEstablished(region: 900) }, "\(a.closures) \(b.closures)")
        exchange(a, b, count: 2000)
        #expect(a.client.status.first?.latency != nil)
        #expect(a.closures.isEmpty && b.closures.isEmpty)
    }

    @Test("over plain HTTP when the relay is a test relay and the client allows it")
    func plainHTTPRelay() throws {
        let relay = try DERPRelayProcess()
        let a = Station(map: relay.map(), plainHTTP: true), b = Station(map: relay.map(), plainHTTP: true)
        #expect(pump([a, b]) { a.client.isEstablished(region: 900) && b.client.isEstablished(region: 900) }, "\(a.closures) \(b.closures)")
        exchange(a, b, count: 500)
    }

    @Test("a relay not marked InsecureForTests must present a certificate the system trusts: a self-signed one is refused")
    func verifiesCertificates() throws {
        let relay = try DERPRelayProcess()
        let a = Station(map: relay.map(insecureForTests: false))
        #expect(pump([a], seconds: 5) { !a.closures.isEmpty })
        #expect(a.closures.first?.contains("certificate verify failed") == true, "\(a.closures)")
        #expect(!a.client.isEstablished(region: 900))
    }

    @Test("when a peer the client sent to disconnects, the relay's peer-gone reaches the client")
    func peerGone() throws {
        let relay = try DERPRelayProcess()
        let a = Station(map: relay.map()), b = Station(map: relay.map())
        #expect(pump([a, b]) { a.client.isEstablished(region: 900) && b.client.isEstablished(region: 900) })
        exchange(a, b, count: 1)
        b.client.close()
        #expect(pump([a]) { !a.gone.isEmpty })
        #expect(a.gone.first?.0 == b.key.publicKey)
        #expect(a.gone.first?.1 == .disconnected)
    }

    @Test("a relay restart: the clients notice, reconnect with backoff, and packets flow again")
    func relayRestart() throws {
        var relay = try DERPRelayProcess()
        let listen = "\(relay.address):\(relay.port)"
        let map = relay.map()
        let a = Station(map: map), b = Station(map: map)
        #expect(pump([a, b]) { a.client.isEstablished(region: 900) && b.client.isEstablished(region: 900) })
        exchange(a, b, count: 10)
        relay.stop()
        #expect(pump([a, b]) { !a.closures.isEmpty && !b.closures.isEmpty })
        relay = try DERPRelayProcess(listen: listen)
        #expect(pump([a, b], seconds: 15) { a.established == 2 && b.established == 2 }, "\(a.closures.suffix(3))")
        b.received = []
        exchange(a, b, count: 10)
        _ = relay
    }

    @Test("a stalled relay: the outbound queue stays bounded, the excess is dropped and counted, and the silent relay is declared dead")
    func stalledRelay() throws {
        let relay = try DERPRelayProcess()
        var quick = DERPClientSession.Timing()
        quick.probeAfterIdle = .seconds(2)
        quick.probeTimeout = .seconds(1)
        let a = Station(map: relay.map(), timing: quick), b = Station(map: relay.map())
        #expect(pump([a, b]) { a.client.isEstablished(region: 900) && b.client.isEstablished(region: 900) })
        relay.pause()
        var dropped = 0
        let packet = numberedPacket(0, size: 16_000)
        for _ in 0..<2000 {  // 32 MB: more than the kernel's socket buffers and the queue together
            let outcome = packet.withUnsafeBytes { a.client.send($0, to: b.key.publicKey, region: 900, now: monotonicNow()) }
            if outcome == .droppedQueueFull { dropped += 1 }
            pump([a], seconds: 0.001) { false }
        }
        #expect(dropped > 0)
        #expect(a.client.status.first?.droppedQueueFull == dropped)
        #expect(pump([a], seconds: 6) { !a.closures.isEmpty })
        #expect(a.closures.first?.contains("did not answer a ping") == true, "\(a.closures)")
        relay.resume()
        #expect(pump([a, b], seconds: 10) { a.established == 2 }, "A reconnects once the relay runs again")
    }
}
