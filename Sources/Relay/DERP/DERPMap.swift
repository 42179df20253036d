/// The relays of a tailnet, as control sends them (`tailcfg.DERPMap`, tailcfg/derpmap.go). Field
/// names follow tailscale's JSON so the netmap's `derpMap` decodes directly.
public struct DERPMap: Codable, Equatable, Sendable {
    /// Regions by ID.
    public var regions: [Int: DERPRegion]

    public init(regions: [Int: DERPRegion]) { self.regions = regions }

    enum CodingKeys: String, CodingKey {
        case regions = "Regions"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        // JSON object keys are strings; tailscale writes region IDs as decimal keys.
        let byName = try container.decodeIfPresent([String: DERPRegion].self, forKey: .regions) ?? [:]
        var regions: [Int: DERPRegion] = [:]
        for (name, region) in byName {
            guard let id = Int(name) else {
                throw DecodingError.dataCorruptedError(forKey: .regions, in: container, debugDescription: "region key \(name) is not a number")
            }
            regions[id] = region
        }
        self.regions = regions
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Dictionary(uniqueKeysWithValues: regions.map { (String($0.key), $0.value) }), forKey: .regions)
    }
}

/// One region: a set of equivalent relay nodes (`tailcfg.DERPRegion`).
public struct DERPRegion: Codable, Equatable, Sendable {
    public var regionID: Int
    public var regionCode: String
    public var regionName: String?
    /// Relays in order of preference; the client uses the first that is not STUN-only.
    public var nodes: [DERPNode]

    public init(regionID: Int, regionCode: String, regionName: String? = nil, nodes: [DERPNode]) {
        self.regionID = regionID
        self.regionCode = regionCode
        self.regionName = regionName
        self.nodes = nodes
    }

    enum CodingKeys: String, CodingKey {
        case regionID = "RegionID", regionCode = "RegionCode", regionName = "RegionName", nodes = "Nodes"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        regionID = try container.decode(Int.self, forKey: .regionID)
        regionCode = try container.decodeIfPresent(String.self, forKey: .regionCode) ?? ""
        regionName = try container.decodeIfPresent(String.self, forKey: .regionName)
        nodes = try container.decodeIfPresent([DERPNode].self, forKey: .nodes) ?? []
    }
}

/// One relay server (`tailcfg.DERPNode`).
public struct DERPNode: Codable, Equatable, Sendable {
    public var name: String
    public var regionID: Int
    /// DNS name (or address) of the relay; the TLS name unless ``certName`` is set.
    public var hostName: String
    /// The name to expect in the relay's certificate, when it differs from ``hostName``.
    public var certName: String?
    /// An IPv4 address to dial instead of resolving ``hostName``; `"none"` disables IPv4.
    public var ipv4: String?
    /// An IPv6 address to dial instead of resolving ``hostName``; `"none"` disables IPv6.
    public var ipv6: String?
    /// The relay's HTTPS port; 0 or absent means 443.
    public var derpPort: Int?
    /// Only a STUN server, no relay.
    public var stunOnly: Bool?
    /// Test relays with self-signed certificates: the client skips certificate verification and
    /// may use plain HTTP when it is configured to.
    public var insecureForTests: Bool?

    public init(name: String, regionID: Int, hostName: String, certName: String? = nil, ipv4: String? = nil,
                ipv6: String? = nil, derpPort: Int? = nil, stunOnly: Bool? = nil, insecureForTests: Bool? = nil) {
        self.name = name
        self.regionID = regionID
        self.hostName = hostName
        self.certName = certName
        self.ipv4 = ipv4
        self.ipv6 = ipv6
        self.derpPort = derpPort
        self.stunOnly = stunOnly
        self.insecureForTests = insecureForTests
    }

    enum CodingKeys: String, CodingKey {
        case name = "Name", regionID = "RegionID", hostName = "HostName", certName = "CertName"
        case ipv4 = "IPv4", ipv6 = "IPv6", derpPort = "DERPPort", stunOnly = "STUNOnly"
        case insecureForTests = "InsecureForTests"
    }

    /// The port to dial: ``derpPort``, or 443 (tailcfg: "zero means 443").
    public var port: UInt16 {
        guard let derpPort, derpPort > 0, derpPort <= 65535 else { return 443 }
        return UInt16(derpPort)
    }

    /// The name the relay's certificate must carry.
    public var tlsServerName: String { certName.flatMap { $0.isEmpty ? nil : $0 } ?? hostName }
}
