import Testing
import Wire
import WireGuard
@testable import WireNet

/// Folding netmaps into the peer table: what WireGuard must change, and the names `dial` resolves.
@Suite struct TailnetPeerTableTests {
    func peer(_ id: Int64, _ host: String, keyByte: UInt8, address: UInt8, endpointPort: UInt16 = 41641) -> TailnetPeer {
        TailnetPeer(id: id, stableID: "n\(id)", name: "\(host).tailnet.test.", hostName: host,
                    nodeKey: PublicKey(Key32(bytes: [UInt8](repeating: keyByte, count: 32))!), discoKey: nil,
                    addresses: [IPPrefix("100.64.0.\(address)/32")!, IPPrefix("fd7a:115c:a1e0::\(address)/128")!],
                    allowedIPs: [IPPrefix("100.64.0.\(address)/32")!, IPPrefix("fd7a:115c:a1e0::\(address)/128")!],
                    endpoints: [IPEndpoint.v4(192, 0, 2, address, port: endpointPort)], homeDERP: 900, online: true,
                    lastSeen: nil, expired: false)
    }

    func update(full: Bool, _ peers: [TailnetPeer], removed: [Int64] = []) -> NetmapUpdate {
        NetmapUpdate(isFull: full, selfNode: nil, domain: "tailnet.test", peers: peers, removed: removed, packetFilter: nil,
                     derpMap: nil, rejected: [])
    }

    @Test func aFullMapAddsEveryPeer() {
        var table = TailnetPeerTable()
        let changes = table.apply(update(full: true, [peer(2, "db", keyByte: 2, address: 2), peer(3, "cache", keyByte: 3, address: 3)]))
        #expect(changes.upserts.count == 2 && changes.removals.isEmpty)
        #expect(table.count == 2)
    }

    @Test func onlineAndLastSeenChangesDoNotTouchWireGuard() {
        var table = TailnetPeerTable()
        _ = table.apply(update(full: true, [peer(2, "db", keyByte: 2, address: 2)]))
        var offline = peer(2, "db", keyByte: 2, address: 2)
        offline.online = false
        offline.lastSeen = "2026-11-30T12:00:00Z"
        let changes = table.apply(update(full: false, [offline]))
        #expect(changes.upserts.isEmpty && changes.removals.isEmpty)
        #expect(table.peers[2]?.online == false)
    }

    @Test func aNewEndpointUpdatesThePeerWithItsOldRecord() {
        var table = TailnetPeerTable()
        _ = table.apply(update(full: true, [peer(2, "db", keyByte: 2, address: 2)]))
        let changes = table.apply(update(full: false, [peer(2, "db", keyByte: 2, address: 2, endpointPort: 5000)]))
        #expect(changes.upserts.count == 1)
        #expect(changes.upserts.first?.old?.endpoints.first?.port == 41641)
    }

    @Test func removalsByIdAndByAbsenceFromAFullMap() {
        var table = TailnetPeerTable()
        _ = table.apply(update(full: true, [peer(2, "db", keyByte: 2, address: 2), peer(3, "cache", keyByte: 3, address: 3),
                                            peer(4, "queue", keyByte: 4, address: 4)]))
        let delta = table.apply(update(full: false, [], removed: [3]))
        #expect(delta.removals.map(\.id) == [3])
        let full = table.apply(update(full: true, [peer(2, "db", keyByte: 2, address: 2)]))
        #expect(full.removals.map(\.id) == [4])
        #expect(full.upserts.isEmpty)
        #expect(table.resolve("cache") == nil && table.resolve("queue") == nil)
    }

    @Test func aRotatedNodeKeyRemovesTheOldKeyAndAddsTheNew() {
        var table = TailnetPeerTable()
        _ = table.apply(update(full: true, [peer(2, "db", keyByte: 2, address: 2)]))
        let changes = table.apply(update(full: false, [peer(2, "db", keyByte: 9, address: 2)]))
        #expect(changes.removals.first?.nodeKey == peer(2, "db", keyByte: 2, address: 2).nodeKey)
        #expect(changes.upserts.first?.new.nodeKey == peer(2, "db", keyByte: 9, address: 2).nodeKey)
        #expect(changes.upserts.first?.old == nil)
    }

    @Test func anExpiredPeerLeavesWireGuardButStaysKnown() {
        var table = TailnetPeerTable()
        _ = table.apply(update(full: true, [peer(2, "db", keyByte: 2, address: 2)]))
        var expired = peer(2, "db", keyByte: 2, address: 2)
        expired.expired = true
        let changes = table.apply(update(full: false, [expired]))
        #expect(changes.removals.count == 1 && changes.upserts.isEmpty)
        #expect(table.peers[2]?.expired == true)
    }

    @Test func namesResolveShortFullAndWithoutTheTrailingDotInAnyCase() {
        var table = TailnetPeerTable()
        _ = table.apply(update(full: true, [peer(2, "db", keyByte: 2, address: 2)]))
        let v4 = IPAddress("100.64.0.2")!
        #expect(table.resolve("db") == v4)
        #expect(table.resolve("DB") == v4)
        #expect(table.resolve("db.tailnet.test.") == v4)
        #expect(table.resolve("db.tailnet.test") == v4)
        #expect(table.resolve("web") == nil)
        #expect(table.resolve("100.64.0.2") == nil)
    }

    @Test func aFullNameOutsideTheDomainResolvesToo() {
        var table = TailnetPeerTable()
        var shared = peer(5, "printer", keyByte: 5, address: 5)
        shared.name = "printer.other-tailnet.example."
        _ = table.apply(update(full: true, [peer(2, "db", keyByte: 2, address: 2), shared]))
        #expect(table.resolve("printer.other-tailnet.example") == IPAddress("100.64.0.5")!)
        #expect(table.resolve("printer") == IPAddress("100.64.0.5")!)
        #expect(table.resolve("printer.tailnet.test") == nil)
        #expect(table.resolve("nobody.tailnet.test") == nil)
    }

    /// WireGuard gets the peer's handle whatever its endpoints; only usable endpoints become
    /// path candidates (PeerPaths).
    @Test func wireGuardGetsTheHandleAndOnlyUsableEndpointsAreCandidates() {
        var candidate = peer(2, "db", keyByte: 2, address: 2)
        candidate.endpoints = [IPEndpoint(IPAddress("0.0.0.0")!, 41641), IPEndpoint.v4(224, 0, 0, 1, port: 5),
                               IPEndpoint.v4(192, 0, 2, 2, port: 0), IPEndpoint.v4(192, 0, 2, 2, port: 41641)]
        #expect(PeerPathChoice.endpoint(for: candidate) == PeerPaths.handle(forPeerID: 2))
        #expect(candidate.endpoints.filter(PeerPathChoice.isUsable) == [IPEndpoint.v4(192, 0, 2, 2, port: 41641)])
        candidate.endpoints = []
        #expect(PeerPathChoice.endpoint(for: candidate) == PeerPaths.handle(forPeerID: 2))
        #expect(PeerPaths.isHandle(PeerPaths.handle(forPeerID: 2)))
    }
}
