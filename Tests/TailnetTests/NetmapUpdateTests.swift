import Testing
import Wire
import WireGuard
@testable import WireNet

/// Decoding the helper's netmap JSON (`Docs/control-plane.md`, "Netmap events").
@Suite struct NetmapUpdateTests {
    static let aliceKey = String(repeating: "a1", count: 32)
    static let bobKey = String(repeating: "b2", count: 32)

    static func peerJSON(id: Int, host: String, key: String, address: Int, extra: String = "") -> String {
        """
        {"id": \(id), "stableID": "n\(id)", "name": "\(host).tailnet.test.", "hostname": "\(host)",
         "nodeKey": "nodekey:\(key)", "discoKey": "discokey:\(String(repeating: "0c", count: 32))",
         "addresses": ["100.64.0.\(address)/32", "fd7a:115c:a1e0::\(address)/128"],
         "allowedIPs": ["100.64.0.\(address)/32", "fd7a:115c:a1e0::\(address)/128"],
         "endpoints": ["192.0.2.\(address):41641"], "homeDERP": 900,
         "online": true, "lastSeen": "2026-11-30T12:00:00Z", "keyExpiry": null, "expired": false\(extra)}
        """
    }

    static let fullMap = """
        {"full": true,
         "self": {"id": 1, "name": "web.tailnet.test.", "nodeKey": "nodekey:\(String(repeating: "ee", count: 32))",
                  "addresses": ["100.64.0.1/32", "fd7a:115c:a1e0::1/128"], "machineAuthorized": true},
         "domain": "tailnet.test",
         "peers": [\(peerJSON(id: 2, host: "db", key: aliceKey, address: 2)), \(peerJSON(id: 3, host: "cache", key: bobKey, address: 3))],
         "packetFilter": [{"srcPrefixes": ["100.64.0.2/32"],
                           "dstPorts": [{"prefix": "100.64.0.1/32", "first": 80, "last": 80}], "protocols": [6]},
                          {"srcPrefixes": ["0.0.0.0/0"], "dstPorts": [{"prefix": "100.64.0.1/32", "first": 0, "last": 65535}], "protocols": []}],
         "derpMap": {"Regions": {"900": {"RegionID": 900, "RegionCode": "test",
                     "Nodes": [{"Name": "900a", "RegionID": 900, "HostName": "127.0.0.1", "IPv4": "127.0.0.1", "DERPPort": 9443, "InsecureForTests": true}]}}}}
        """

    @Test func theContractsExampleDecodes() throws {
        let update = try NetmapUpdate(json: Array(Self.fullMap.utf8))
        #expect(update.isFull)
        #expect(update.rejected.isEmpty)
        #expect(update.selfNode?.addresses == [IPPrefix("100.64.0.1/32")!, IPPrefix("fd7a:115c:a1e0::1/128")!])
        #expect(update.peers.count == 2)
        let db = try #require(update.peers.first)
        #expect(db.id == 2 && db.hostName == "db" && db.name == "db.tailnet.test.")
        #expect(db.nodeKey.key.hex == Self.aliceKey)
        #expect(db.endpoints == [IPEndpoint.v4(192, 0, 2, 2, port: 41641)])
        #expect(db.homeDERP == 900 && db.online == true && db.discoKey != nil)
        #expect(update.packetFilter?.count == 2)
        #expect(update.packetFilter?[0].destinations == [.init(prefix: IPPrefix("100.64.0.1/32")!, ports: 80...80)])
        #expect(update.packetFilter?[1].protocols == FilterRule.defaultProtocols)
        #expect(update.derpMap?.regions[900]?.nodes.first?.derpPort == 9443)
    }

    @Test func aDeltaWithoutFilterLeavesThePolicyUnchanged() throws {
        let update = try NetmapUpdate(json: Array(#"{"full": false, "peers": [], "removed": [7, 9]}"#.utf8))
        #expect(!update.isFull && update.removed == [7, 9] && update.packetFilter == nil)
        let empty = try NetmapUpdate(json: Array(#"{"full": true, "packetFilter": []}"#.utf8))
        #expect(empty.packetFilter == [])
    }

    @Test func aPeerWithABadKeyIsLeftOutAndNamed() throws {
        let json = """
            {"full": true, "peers": [\(Self.peerJSON(id: 2, host: "db", key: "zz", address: 2)),
                                     \(Self.peerJSON(id: 3, host: "cache", key: Self.bobKey, address: 3))]}
            """
        let update = try NetmapUpdate(json: Array(json.utf8))
        #expect(update.peers.map(\.id) == [3])
        #expect(update.rejected.count == 1 && update.rejected[0].contains("peer 2"))
    }

    @Test func badPrefixesAndPortsRejectTheRuleNotTheMap() throws {
        let json = #"""
            {"full": true, "packetFilter": [
              {"srcPrefixes": ["100.64.0.2/33"], "dstPorts": [{"prefix": "100.64.0.1/32", "first": 1, "last": 2}]},
              {"srcPrefixes": ["100.64.0.2/32"], "dstPorts": [{"prefix": "100.64.0.1/32", "first": 9, "last": 70000}]},
              {"srcPrefixes": ["100.64.0.2/32"], "dstPorts": [{"prefix": "100.64.0.1/32", "first": 22, "last": 22}], "protocols": [300]},
              {"srcPrefixes": ["100.64.0.2/32"], "dstPorts": [{"prefix": "100.64.0.1/32", "first": 22, "last": 22}]}]}
            """#
        let update = try NetmapUpdate(json: Array(json.utf8))
        #expect(update.packetFilter?.count == 1)
        #expect(update.rejected.count == 3)
    }

    @Test(arguments: ["", "{", "[]", "null", "42", #"{"peers": 5}"#, #"{"peers": [{"id": "x"}]}"#,
                      String(repeating: "[", count: 100_000), #"{"full": true, "removed": [1e400]}"#])
    func malformedJSONThrowsAndNeverTraps(_ text: String) {
        #expect(throws: ControlProtocolError.self) { try NetmapUpdate(json: Array(text.utf8)) }
    }

    @Test func stateAndLogEventsDecode() throws {
        let refused = #"{"state": "refused", "message": "auth key expired"}"#
        guard case .state(.refused, let message, nil) = try Array(refused.utf8).withUnsafeBytes({ try ControlEvent(kind: 2, json: $0) }) else {
            Issue.record("not a refused state"); return
        }
        #expect(message == "auth key expired")
        let reconnecting = #"{"state": "reconnecting", "message": "dial tcp: refused", "retryInMs": 1500}"#
        guard case .state(.reconnecting, _, let retry) = try Array(reconnecting.utf8).withUnsafeBytes({ try ControlEvent(kind: 2, json: $0) }) else {
            Issue.record("not a reconnecting state"); return
        }
        #expect(retry == .milliseconds(1500))
        #expect(throws: ControlProtocolError.self) {
            try Array(#"{"state": "dancing"}"#.utf8).withUnsafeBytes { try ControlEvent(kind: 2, json: $0) }
        }
        #expect(throws: ControlProtocolError.self) { try [UInt8]().withUnsafeBytes { try ControlEvent(kind: 99, json: $0) } }
    }
}
