/// How a ``SendBatch`` is cut into `sendmsg` operations: runs of datagrams to one destination
/// (from one source) where all but the last have the same size become one UDP GSO super-datagram.
enum SegmentationPlan {
    /// Most segments per super-datagram. The kernel allows `UDP_MAX_SEGMENTS` (64 before Linux
    /// 6.1, 128 since; include/linux/udp.h); 64 works everywhere.
    static let maximumSegments = 64
    /// Most payload bytes in one super-datagram: an IPv4 datagram's 65535-byte total length minus
    /// the IPv4 (20) and UDP (8) headers (RFC 791 §3.1, RFC 768); the IPv6 limit is higher.
    static let maximumBytes = 65_507

    /// The length of the run starting at `start` and its segment size.
    static func run(in entries: UnsafeBufferPointer<SendBatch.Entry>, from start: Int,
                    segmentationAllowed: Bool) -> (count: Int, segmentSize: Int) {
        let first = entries[start]
        let size = Int(first.count)
        guard segmentationAllowed, size > 0 else { return (1, size) }
        var count = 1
        var total = size
        while start + count < entries.count && count < maximumSegments {
            let next = entries[start + count]
            let nextSize = Int(next.count)
            guard next.destination == first.destination, next.source == first.source,
                  next.interfaceIndex == first.interfaceIndex, nextSize > 0, nextSize <= size,
                  total + nextSize <= maximumBytes
            else { break }
            count += 1
            total += nextSize
            // Only the last segment may be shorter.
            if nextSize < size { break }
        }
        return (count, size)
    }
}

/// Destinations for which the kernel refused a `UDP_SEGMENT` send: they get single datagrams.
/// Bounded; when full, GSO is turned off for the whole socket.
struct SegmentationRefusals {
    static let capacity = 64
    private var destinations: [UDPEndpoint] = []
    private(set) var refusesAll = false

    init() { destinations.reserveCapacity(Self.capacity) }

    func allows(_ destination: UDPEndpoint) -> Bool {
        !refusesAll && (destinations.isEmpty || !destinations.contains(destination))
    }

    /// Records a refusal; returns true the first time segmentation is turned off for everyone.
    mutating func refuse(_ destination: UDPEndpoint) -> Bool {
        guard !refusesAll, !destinations.contains(destination) else { return false }
        if destinations.count == Self.capacity {
            refusesAll = true
            destinations.removeAll()
            return true
        }
        destinations.append(destination)
        return false
    }
}
