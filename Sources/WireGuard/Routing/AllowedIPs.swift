import Wire

/// Cryptokey routing table (WireGuard paper §2): a longest-prefix-match binary trie per address family
/// mapping prefixes to a value (the peer). Used to choose the peer for an outgoing packet and to check
/// that an incoming packet's inner source belongs to the peer that sent it.
///
/// Nodes live in one array per family; lookups walk at most one node per prefix bit and never allocate.
public struct AllowedIPs<Value> {
    /// A trie node: child indices and the index of its value in `values` (-1: none). Nodes hold no
    /// references, so walking them costs no reference counting.
    private struct Node {
        var children: (Int32, Int32) = (-1, -1)
        var value: Int32 = -1
    }

    private var v4Nodes = [Node()]
    private var v6Nodes = [Node()]
    private var values: [Value] = []
    private var entries: [IPPrefix: Value] = [:]

    public init() {}

    /// Number of prefixes in the table.
    public var count: Int { entries.count }

    /// Every prefix with its value.
    public var allEntries: [(IPPrefix, Value)] { entries.map { ($0.key, $0.value) } }

    /// Routes `prefix` to `value`, replacing any earlier value for exactly that prefix.
    /// Host bits beyond the prefix length are ignored (`10.1.2.3/8` is `10.0.0.0/8`).
    public mutating func insert(_ prefix: IPPrefix, value: Value) {
        let prefix = prefix.masked
        entries[prefix] = value
        switch prefix.address {
        case .v4(let address):
            Self.insert(into: &v4Nodes, values: &values, high: UInt64(address.rawValue) << 32, low: 0,
                        length: prefix.length, value)
        case .v6(let address):
            Self.insert(into: &v6Nodes, values: &values, high: address.high, low: address.low,
                        length: prefix.length, value)
        }
    }

    /// Removes every prefix whose value matches (e.g. all of a removed peer's prefixes).
    public mutating func removeAll(where shouldRemove: (Value) -> Bool) {
        let kept = entries.filter { !shouldRemove($0.value) }
        entries = [:]
        v4Nodes = [Node()]
        v6Nodes = [Node()]
        values = []
        for (prefix, value) in kept { insert(prefix, value: value) }
    }

    /// Removes one exact prefix.
    public mutating func remove(_ prefix: IPPrefix) {
        let prefix = prefix.masked
        guard entries[prefix] != nil else { return }
        let kept = entries.filter { $0.key != prefix }
        entries = [:]
        v4Nodes = [Node()]
        v6Nodes = [Node()]
        values = []
        for (p, value) in kept { insert(p, value: value) }
    }

    private static func bit(_ high: UInt64, _ low: UInt64, _ depth: Int) -> Bool {
        depth < 64 ? (high >> (63 - depth)) & 1 == 1 : (low >> (127 - depth)) & 1 == 1
    }

    private static func insert(
        into nodes: inout [Node], values: inout [Value], high: UInt64, low: UInt64, length: Int, _ value: Value
    ) {
        var index = 0
        for depth in 0..<length {
            let one = bit(high, low, depth)
            var child = one ? nodes[index].children.1 : nodes[index].children.0
            if child < 0 {
                nodes.append(Node())
                child = Int32(nodes.count - 1)
                if one { nodes[index].children.1 = child } else { nodes[index].children.0 = child }
            }
            index = Int(child)
        }
        if nodes[index].value >= 0 {
            values[Int(nodes[index].value)] = value
        } else {
            values.append(value)
            nodes[index].value = Int32(values.count - 1)
        }
    }

    @inline(__always)
    private func lookup(_ nodes: [Node], high: UInt64, low: UInt64, bits: Int) -> Value? {
        let best: Int32 = nodes.withUnsafeBufferPointer { nodes in
            var best: Int32 = -1
            var index = 0
            var depth = 0
            while true {
                let node = nodes[index]
                if node.value >= 0 { best = node.value }
                guard depth < bits else { break }
                let child = Self.bit(high, low, depth) ? node.children.1 : node.children.0
                guard child >= 0 else { break }
                index = Int(child)
                depth += 1
            }
            return best
        }
        return best >= 0 ? values[Int(best)] : nil
    }

    /// The value of the longest prefix containing the IPv4 address.
    @inline(__always)
    public func lookup(_ address: IPv4Address) -> Value? {
        lookup(v4Nodes, high: UInt64(address.rawValue) << 32, low: 0, bits: 32)
    }

    /// The value of the longest prefix containing the IPv6 address.
    @inline(__always)
    public func lookup(_ address: IPv6Address) -> Value? {
        lookup(v6Nodes, high: address.high, low: address.low, bits: 128)
    }

    /// The value of the longest prefix containing the address.
    public func lookup(_ address: IPAddress) -> Value? {
        switch address {
        case .v4(let v4): return lookup(v4)
        case .v6(let v6): return lookup(v6)
        }
    }
}

extension AllowedIPs: Sendable where Value: Sendable {}
