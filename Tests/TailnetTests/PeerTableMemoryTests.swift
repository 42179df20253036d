#if canImport(Glibc)
import Glibc
#endif
import Testing
import Wire
import WireGuard
@testable import WireNet

/// What an idle tailnet peer costs in the node's own data structures (peer table, name and route
/// indexes, disco keys), measured as resident memory in this process, where no Go runtime runs.
/// The figure is printed for perf/tailnet-scale.sh's report; the bound only catches gross
/// regressions (a WireGuard peer per idle peer costs several KiB), since other suites run
/// concurrently in this process and move its resident size.
@Suite struct PeerTableMemoryTests {
    static func residentKiB() -> Int {
        guard let file = fopen("/proc/self/status", "r") else { return 0 }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, 256, file) != nil {
            let text = String(cString: line)
            if text.hasPrefix("VmRSS:") { return Int(text.split(separator: " ").dropFirst().first ?? "0") ?? 0 }
        }
        return 0
    }

    static func netmapJSON(peers: Int) -> [UInt8] {
        var text = #"{"full": true, "domain": "tailnet.test", "self": {"id": 1, "name": "me.tailnet.test.", "addresses": ["100.64.0.1/32"]}, "peers": ["#
        for i in 0..<peers {
            let key = String(repeating: String(format2(i % 256)), count: 31) + String(format2(i / 256 % 256))
            let disco = String(repeating: "0d", count: 30) + String(format2(i % 256)) + String(format2(i / 256 % 256))
            let a = 2 + i
            if i > 0 { text += "," }
            text += #"{"id": \#(i + 2), "stableID": "n\#(i + 2)", "name": "synthetic-\#(i + 2).tailnet.test.", "hostname": "synthetic-\#(i + 2)", "nodeKey": "nodekey:\#(key)", "discoKey": "discokey:\#(disco)", "addresses": ["100.64.\#(a / 256).\#(a % 256)/32", "fd7a:115c:a1e0::\#(String(a, radix: 16))/128"], "allowedIPs": ["100.64.\#(a / 256).\#(a % 256)/32", "fd7a:115c:a1e0::\#(String(a, radix: 16))/128"], "endpoints": ["198.18.\#(a / 256).\#(a % 256):41641"], "homeDERP": 0, "online": null, "lastSeen": "2026-12-01T00:00:00Z", "keyExpiry": null, "expired": false}"#
        }
        return Array((text + "]}").utf8)
    }

    @Test func idlePeersCostANetmapRecordNotAWireGuardPeer() throws {
        let count = 10_000
        let json = Self.netmapJSON(peers: count)
        HeapTrim.releaseFreedMemory()
        let before = Self.residentKiB()
        var table = TailnetPeerTable()
        // What the engine keeps per peer besides WireGuard: the path state (disco key, home region).
        let paths = PeerPaths(nodeKey: PrivateKey(), discoKey: PrivateKey(), plainHTTPForTestRelays: false, localEndpoints: [], seed: 1)
        do {
            let update = try NetmapUpdate(json: json)
            #expect(update.peers.count == count)
            _ = table.apply(update)
            for peer in update.peers {
                paths.upsert(id: peer.id, nodeKey: peer.nodeKey, discoKey: peer.discoKey, homeDERP: peer.homeDERP,
                             endpoints: peer.endpoints)
            }
        }
        HeapTrim.releaseFreedMemory()
        let after = Self.residentKiB()
        let perPeer = (after - before) * 1024 / count
        print("tailnet peer table: \(perPeer) bytes per idle peer (\(count) peers, \(after - before) KiB)")
        #expect(table.count == count)
        #expect(perPeer < 8192)
        withExtendedLifetime((table, paths)) {}
    }
}

private func format2(_ value: Int) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[value >> 4], digits[value & 15]])
}
