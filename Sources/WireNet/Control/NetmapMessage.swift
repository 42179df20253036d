/// The netmap event's JSON exactly as the control helper sends it (`Docs/control-plane.md`,
/// "Netmap events"), read by ``init(scanning:)``. Every field is optional here so that a missing
/// field becomes a validation message in ``NetmapUpdate/init(json:)`` rather than a failure of the
/// whole map.
struct NetmapMessage {
    struct SelfNode {
        var id: Int64?
        var name: String?
        var nodeKey: String?
        var addresses: [String]?
        var machineAuthorized: Bool?
    }

    struct Peer {
        var id: Int64?
        var stableID: String?
        var name: String?
        var hostname: String?
        var nodeKey: String?
        var discoKey: String?
        var addresses: [String]?
        var allowedIPs: [String]?
        var endpoints: [String]?
        var homeDERP: Int?
        var online: Bool?
        var lastSeen: String?
        var keyExpiry: String?
        var expired: Bool?
    }

    struct Rule {
        struct Ports {
            var prefix: String?
            var first: Int?
            var last: Int?
        }
        var srcPrefixes: [String]?
        var dstPorts: [Ports]?
        var protocols: [Int]?
    }

    var full: Bool?
    var `self`: SelfNode?
    var domain: String?
    var peers: [Peer]?
    var removed: [Int64]?
    var packetFilter: [Rule]?
    var derpMap: DERPMap?
}

/// Control's DERP map (tailscale `tailcfg.DERPMap`) as the netmap carries it: the relay regions
/// this tailnet uses. WireNet keeps it for the DERP client; the fields are tailscale's JSON names.
public struct DERPMap: Decodable, Sendable, Equatable {
    /// One relay region (tailscale `tailcfg.DERPRegion`).
    public struct Region: Decodable, Sendable, Equatable {
        /// The region's number, as peers' `homeDERP` names it.
        public var regionID: Int
        /// A short code such as `"test"`.
        public var regionCode: String?
        /// The region's relay servers, in order of preference.
        public var nodes: [Node]

        enum CodingKeys: String, CodingKey {
            case regionID = "RegionID", regionCode = "RegionCode", nodes = "Nodes"
        }

        /// Decodes tailscale's JSON (`RegionID`, `RegionCode`, `Nodes`).
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            regionID = try container.decode(Int.self, forKey: .regionID)
            regionCode = try container.decodeIfPresent(String.self, forKey: .regionCode)
            nodes = try container.decodeIfPresent([Node].self, forKey: .nodes) ?? []
        }
    }

    /// One relay server (tailscale `tailcfg.DERPNode`).
    public struct Node: Decodable, Sendable, Equatable {
        /// The server's unique name.
        public var name: String?
        /// The region it belongs to.
        public var regionID: Int?
        /// The host name (or IP literal) to connect to.
        public var hostName: String?
        /// Explicit addresses, overriding DNS for `hostName`.
        /// An explicit IPv4 address, overriding DNS for `hostName`.
        public var ipv4: String?
        /// An explicit IPv6 address, overriding DNS for `hostName`.
        public var ipv6: String?
        /// The TLS port of the relay (0 or absent: 443).
        public var derpPort: Int?
        /// The STUN port (0 or absent: 3478; -1: no STUN).
        public var stunPort: Int?
        /// Skip certificate verification (test relays only).
        public var insecureForTests: Bool?

        enum CodingKeys: String, CodingKey {
            case name = "Name", regionID = "RegionID", hostName = "HostName", ipv4 = "IPv4", ipv6 = "IPv6"
            case derpPort = "DERPPort", stunPort = "STUNPort", insecureForTests = "InsecureForTests"
        }
    }

    /// The regions by region number.
    public var regions: [Int: Region]

    enum CodingKeys: String, CodingKey { case regions = "Regions" }

    /// Decodes tailscale's JSON (`Regions`, keyed by the region number as text).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let byText = try container.decodeIfPresent([String: Region].self, forKey: .regions) ?? [:]
        var regions: [Int: Region] = [:]
        for (key, region) in byText {
            regions[Int(key) ?? region.regionID] = region
        }
        self.regions = regions
    }
}
