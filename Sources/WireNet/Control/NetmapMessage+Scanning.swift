#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Reading the netmap event JSON with ``JSONScanner``: field names as `Docs/control-plane.md`
/// spells them, unknown fields skipped, `null` the same as absent. A field of the wrong JSON type
/// fails the whole message (as the `Codable` decoding this replaces did). The DERP map, small and
/// nested, is handed to `JSONDecoder`.
extension NetmapMessage {
    init(scanning bytes: UnsafeRawBufferPointer) throws(ControlProtocolError) {
        var scanner = JSONScanner(bytes)
        self.init()
        try scanner.beginObject()
        var first = true
        while let key = try scanner.nextKey(&first) {
            if scanner.null() { continue }
            switch key {
            case "full": full = try scanner.bool()
            case "self": self.`self` = try SelfNode(&scanner)
            case "domain": domain = try scanner.string()
            case "peers": peers = try Self.array(&scanner) { (s: inout JSONScanner) throws(ControlProtocolError) in try Peer(&s) }
            case "removed": removed = try Self.array(&scanner) { (s: inout JSONScanner) throws(ControlProtocolError) in try s.integer() }
            case "packetFilter": packetFilter = try Self.array(&scanner) { (s: inout JSONScanner) throws(ControlProtocolError) in try Rule(&s) }
            case "derpMap":
                let raw = try scanner.skipValue()
                do {
                    derpMap = try JSONDecoder().decode(DERPMap.self, from: Data(raw))
                } catch {
                    throw ControlProtocolError(message: "derpMap: \(error)")
                }
            default: try scanner.skipValue()
            }
        }
        try scanner.end()
    }

    /// An array whose elements `element` reads (`null` elements are refused, as `Codable` did).
    static func array<T>(_ scanner: inout JSONScanner,
                         _ element: (inout JSONScanner) throws(ControlProtocolError) -> T) throws(ControlProtocolError) -> [T] {
        var out: [T] = []
        try scanner.beginArray()
        var first = true
        while try scanner.nextElement(&first) { out.append(try element(&scanner)) }
        return out
    }

    static func strings(_ scanner: inout JSONScanner) throws(ControlProtocolError) -> [String] {
        try array(&scanner) { (s: inout JSONScanner) throws(ControlProtocolError) in try s.string() }
    }
}

extension NetmapMessage.SelfNode {
    init(_ scanner: inout JSONScanner) throws(ControlProtocolError) {
        self.init()
        try scanner.beginObject()
        var first = true
        while let key = try scanner.nextKey(&first) {
            if scanner.null() { continue }
            switch key {
            case "id": id = try scanner.integer()
            case "name": name = try scanner.string()
            case "nodeKey": nodeKey = try scanner.string()
            case "addresses": addresses = try NetmapMessage.strings(&scanner)
            case "machineAuthorized": machineAuthorized = try scanner.bool()
            default: try scanner.skipValue()
            }
        }
    }
}

extension NetmapMessage.Peer {
    init(_ scanner: inout JSONScanner) throws(ControlProtocolError) {
        self.init()
        try scanner.beginObject()
        var first = true
        while let key = try scanner.nextKey(&first) {
            if scanner.null() { continue }
            switch key {
            case "id": id = try scanner.integer()
            case "stableID": stableID = try scanner.string()
            case "name": name = try scanner.string()
            case "hostname": hostname = try scanner.string()
            case "nodeKey": nodeKey = try scanner.string()
            case "discoKey": discoKey = try scanner.string()
            case "addresses": addresses = try NetmapMessage.strings(&scanner)
            case "allowedIPs": allowedIPs = try NetmapMessage.strings(&scanner)
            case "endpoints": endpoints = try NetmapMessage.strings(&scanner)
            case "homeDERP": homeDERP = Int(try scanner.integer())
            case "online": online = try scanner.bool()
            case "lastSeen": lastSeen = try scanner.string()
            case "keyExpiry": keyExpiry = try scanner.string()
            case "expired": expired = try scanner.bool()
            default: try scanner.skipValue()
            }
        }
    }
}

extension NetmapMessage.Rule {
    init(_ scanner: inout JSONScanner) throws(ControlProtocolError) {
        self.init()
        try scanner.beginObject()
        var first = true
        while let key = try scanner.nextKey(&first) {
            if scanner.null() { continue }
            switch key {
            case "srcPrefixes": srcPrefixes = try NetmapMessage.strings(&scanner)
            case "dstPorts": dstPorts = try NetmapMessage.array(&scanner) { (s: inout JSONScanner) throws(ControlProtocolError) in try Ports(&s) }
            case "protocols": protocols = try NetmapMessage.array(&scanner) { (s: inout JSONScanner) throws(ControlProtocolError) in Int(try s.integer()) }
            default: try scanner.skipValue()
            }
        }
    }
}

extension NetmapMessage.Rule.Ports {
    init(_ scanner: inout JSONScanner) throws(ControlProtocolError) {
        self.init()
        try scanner.beginObject()
        var opening = true
        while let key = try scanner.nextKey(&opening) {
            if scanner.null() { continue }
            switch key {
            case "prefix": prefix = try scanner.string()
            case "first": self.first = Int(try scanner.integer())
            case "last": last = Int(try scanner.integer())
            default: try scanner.skipValue()
            }
        }
    }
}
