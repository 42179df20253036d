/// One received UDP datagram: a view into a transport-owned receive buffer.
///
/// The bytes are mutable so that WireGuard can decrypt in place. They stay valid until the batch
/// that delivered them is passed to ``UDPTransport/receive(into:timeout:)`` again, recycled with
/// ``UDPTransport/recycle(_:)``, or the transport is closed. Copy what must live longer.
public struct ReceivedDatagram {
    /// The datagram payload (one GRO segment when the kernel coalesced several).
    public var bytes: UnsafeMutableRawBufferPointer
    /// Who sent it.
    public var source: UDPEndpoint
    /// The local address it was sent to (from `IPV6_PKTINFO`), nil when the kernel gave none.
    public var localAddress: UDPEndpoint.Address?
    /// Index of the interface it arrived on (0 when unknown).
    public var interfaceIndex: UInt32
    /// The receive buffer holding it (several GRO segments share one buffer).
    public var buffer: ReceiveBufferID
}

/// Why a datagram could not be delivered, reported once per failed send (or ICMP report) without
/// stopping the transport.
public struct DatagramError: Sendable, CustomStringConvertible {
    /// Where the report comes from.
    public enum Origin: Sendable {
        /// The kernel refused a send (`sendmsg` result).
        case send
        /// An ICMP/ICMPv6 error came back for an earlier datagram (socket error queue).
        case icmp
    }

    /// The destination the failed datagram(s) were sent to.
    public var destination: UDPEndpoint
    /// The error, e.g. `ECONNREFUSED`, `ENETUNREACH`, `EMSGSIZE`.
    public var error: Errno
    /// How many datagrams this report covers (1 for ICMP reports).
    public var datagrams: Int
    public var origin: Origin

    public var description: String {
        "\(datagrams) datagram(s) to \(destination): \(error.name) (\(origin))"
    }
}

/// The reusable result of ``UDPTransport/receive(into:timeout:)``: received datagrams and the
/// per-datagram errors collected since the previous call.
///
/// Create one per loop with the capacity you want per call and reuse it; its storage is
/// allocated once, so a steady receive loop does not allocate.
public struct ReceiveBatch {
    /// The datagrams received by the last call, in arrival order.
    public private(set) var datagrams: [ReceivedDatagram]
    /// Send failures and ICMP errors collected since the previous call.
    public private(set) var errors: [DatagramError]
    /// True when the last call returned because ``UDPTransport/Waker/wake()`` was called.
    public internal(set) var wasWoken = false
    /// Descriptors given to ``UDPTransport/watch(_:)`` that became readable since the previous call.
    public internal(set) var readyDescriptors: [CInt] = []
    /// Most datagrams one call delivers.
    public let capacity: Int
    /// Receive buffers the datagrams live in; given back to the transport on the next call.
    var heldBuffers: [UInt16]
    /// The transport that filled this batch (buffers are only given back to it).
    var owner: ObjectIdentifier?

    /// Capacity is at least ``UDPTransport/maximumSegmentsPerBuffer``, so one coalesced
    /// super-datagram always fits.
    public init(capacity: Int = 512) {
        self.capacity = max(capacity, UDPTransport.maximumSegmentsPerBuffer)
        datagrams = []
        datagrams.reserveCapacity(self.capacity)
        errors = []
        errors.reserveCapacity(UDPTransport.errorReportCapacity)
        heldBuffers = []
        heldBuffers.reserveCapacity(self.capacity)
        readyDescriptors.reserveCapacity(8)
    }

    public var count: Int { datagrams.count }
    public var isEmpty: Bool { datagrams.isEmpty }

    var remainingCapacity: Int { capacity - datagrams.count }

    mutating func reset() {
        datagrams.removeAll(keepingCapacity: true)
        errors.removeAll(keepingCapacity: true)
        heldBuffers.removeAll(keepingCapacity: true)
        readyDescriptors.removeAll(keepingCapacity: true)
        wasWoken = false
    }

    mutating func append(_ datagram: ReceivedDatagram) { datagrams.append(datagram) }
    mutating func append(_ error: DatagramError) { errors.append(error) }
}

/// Datagrams to send with one ``UDPTransport/send(_:)`` call (one `io_uring_submit` or one
/// `sendmmsg` loop). Consecutive datagrams of equal size to the same destination are sent as one
/// UDP GSO super-datagram; order per destination is kept.
public struct SendBatch {
    struct Entry {
        var buffer: UInt32
        var start: Int32
        var count: Int32
        var destination: UDPEndpoint
        var source: UDPEndpoint.Address?
        var interfaceIndex: UInt32
    }

    var entries: [Entry]

    /// `capacity` is reserved once; appending beyond it works but allocates.
    public init(capacity: Int = 512) {
        entries = []
        entries.reserveCapacity(capacity)
    }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    /// Queues `buffer`'s datagram for `destination`. The buffer now belongs to the batch: after
    /// ``UDPTransport/send(_:)`` the transport returns it to the pool when the kernel is done.
    ///
    /// - Parameters:
    ///   - source: the local address to send from (`IPV6_PKTINFO`), e.g. the
    ///     ``ReceivedDatagram/localAddress`` the peer last wrote to, so that replies leave from the
    ///     address the peer knows on a host with several; nil lets the kernel's routing choose.
    ///   - interfaceIndex: the interface for `source` (needed for IPv6 link-local), 0 for any.
    public mutating func append(_ buffer: PacketBuffer, to destination: UDPEndpoint,
                                from source: UDPEndpoint.Address? = nil, interfaceIndex: UInt32 = 0) {
        entries.append(Entry(buffer: buffer.index, start: Int32(buffer.dataStart),
                             count: Int32(buffer.dataCount), destination: destination, source: source,
                             interfaceIndex: interfaceIndex))
    }
}
