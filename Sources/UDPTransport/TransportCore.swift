import CWireNetShims
import Glibc

/// Where one `sendmsg` is built: its `msghdr`, iovecs, destination and control space.
struct OutboundMessage {
    let header: UnsafeMutablePointer<msghdr>
    let iovecs: UnsafeMutablePointer<iovec>
    let name: UnsafeMutablePointer<sockaddr_in6>
    let control: UnsafeMutableRawPointer
    let controlCapacity: Int
}

/// State both backends share: the socket, the buffers, received messages waiting for a batch,
/// error reports waiting for `receive`, counters, and the GSO decisions.
final class TransportCore {
    let configuration: UDPTransport.Configuration
    let socket: DatagramSocket
    let sendPool: PacketBufferPool
    let receiveBuffers: ReceiveBufferArena
    var inbound: InboundQueue
    var statistics = UDPTransport.Statistics()
    private(set) var errorReports: [DatagramError] = []
    private var refusals = SegmentationRefusals()
    private var loggedSegmentationRefusal = false

    // Scratch space for error-queue reads (allocated once).
    private let errorHeader: UnsafeMutablePointer<msghdr>
    private let errorName: UnsafeMutablePointer<sockaddr_in6>
    private let errorIovec: UnsafeMutablePointer<iovec>
    private let errorPayload: UnsafeMutableRawPointer
    private let errorControl: UnsafeMutableRawPointer
    private let errorControlCapacity: Int
    private static let errorPayloadCapacity = 64

    init(configuration: UDPTransport.Configuration) throws(Errno) {
        self.configuration = configuration
        socket = try DatagramSocket(configuration: configuration)
        sendPool = PacketBufferPool(count: configuration.sendBufferCount,
                                    payloadCapacity: configuration.sendBufferSize,
                                    headroom: configuration.headroom, tailroom: configuration.tailroom)
        receiveBuffers = ReceiveBufferArena(count: configuration.receiveBufferCount,
                                            payloadCapacity: configuration.effectiveReceiveBufferSize)
        inbound = InboundQueue(capacity: configuration.receiveBufferCount)
        errorReports.reserveCapacity(UDPTransport.errorReportCapacity)
        errorHeader = .allocate(capacity: 1)
        errorName = .allocate(capacity: 1)
        errorIovec = .allocate(capacity: 1)
        errorPayload = .allocate(byteCount: Self.errorPayloadCapacity, alignment: 8)
        errorControlCapacity = wirenet_udp_error_cmsg_space() + 64
        errorControl = .allocate(byteCount: errorControlCapacity, alignment: 8)
    }

    deinit {
        errorHeader.deallocate()
        errorName.deallocate()
        errorIovec.deallocate()
        errorPayload.deallocate()
        errorControl.deallocate()
    }

    var segmentationEnabled: Bool { socket.supportsSegmentation && !refusals.refusesAll }

    func segmentationAllowed(for destination: UDPEndpoint) -> Bool {
        socket.supportsSegmentation && refusals.allows(destination)
    }

    /// The kernel refused a `UDP_SEGMENT` send to `destination` with `error`: send it single
    /// datagrams from now on. Logged once per transport.
    func refuseSegmentation(for destination: UDPEndpoint, error: Errno) {
        let everyone = refusals.refuse(destination)
        if !loggedSegmentationRefusal || everyone {
            loggedSegmentationRefusal = true
            configuration.log(everyone
                ? "UDP GSO refused for too many destinations; GSO is off for this socket"
                : "UDP GSO refused for \(destination) with \(error.name); sending it single datagrams")
        }
    }

    // MARK: Errors

    func report(_ destination: UDPEndpoint, _ error: Errno, datagrams: Int, origin: DatagramError.Origin) {
        statistics.datagramErrors += datagrams
        guard errorReports.count < UDPTransport.errorReportCapacity else {
            statistics.droppedErrorReports += 1
            return
        }
        errorReports.append(DatagramError(destination: destination, error: error, datagrams: datagrams, origin: origin))
    }

    func moveErrorReports(into batch: inout ReceiveBatch) {
        for report in errorReports { batch.append(report) }
        errorReports.removeAll(keepingCapacity: true)
    }

    /// Reads the socket's error queue (`MSG_ERRQUEUE`, filled because of `IP[V6]_RECVERR`) and
    /// reports each ICMP error for the destination it names. Called whenever an operation fails
    /// with an error an ICMP message can cause, so the queue never stays non-empty.
    func drainErrorQueue() {
        while true {
            errorIovec.pointee = iovec(iov_base: errorPayload, iov_len: Self.errorPayloadCapacity)
            var header = msghdr()
            header.msg_name = UnsafeMutableRawPointer(errorName)
            header.msg_namelen = socklen_t(MemoryLayout<sockaddr_in6>.size)
            header.msg_iov = errorIovec
            header.msg_iovlen = 1
            header.msg_control = errorControl
            header.msg_controllen = errorControlCapacity
            errorHeader.pointee = header
            let result: IOResult<Int>
            do {
                result = try SystemCall.run {
                    recvmsg(socket.descriptor, errorHeader, CInt(MSG_ERRQUEUE | MSG_DONTWAIT))
                }
            } catch {
                return
            }
            guard case .done = result else { return }
            var info = wirenet_udp_cmsg_info()
            wirenet_udp_parse_cmsgs(errorHeader, &info)
            let destination = UnsafeRawPointer(errorName).withMemoryRebound(to: sockaddr.self, capacity: 1) {
                UDPEndpoint(socketAddress: $0, length: Int(errorHeader.pointee.msg_namelen))
            }
            if info.has_error != 0, let destination {
                report(destination, Errno(rawValue: info.error_number), datagrams: 1, origin: .icmp)
            }
        }
    }

    // MARK: Receiving

    /// Queues a received (super-)datagram found in receive buffer `buffer`. Returns false (and
    /// the caller recycles the buffer) when it cannot be delivered.
    func enqueue(buffer: UInt16, payload: UnsafeMutableRawPointer, length: Int, flags: CInt,
                 name: UnsafePointer<sockaddr>?, nameLength: Int, info: wirenet_udp_cmsg_info) -> Bool {
        statistics.receiveMessages += 1
        if flags & CInt(MSG_TRUNC) != 0 {
            statistics.truncatedDatagrams += 1
            return false
        }
        guard let name, let source = UDPEndpoint(socketAddress: name, length: nameLength) else { return false }
        var local: UDPEndpoint.Address? = nil
        if info.has_packet_info != 0 {
            local = UDPEndpoint.Address(ipv6: info.local_address)
        }
        let segment = info.gro_segment_size > 0 ? Int(info.gro_segment_size) : length
        inbound.append(InboundMessage(buffer: buffer, payload: payload, length: length, segmentSize: segment,
                                      offset: 0, source: source, localAddress: local,
                                      interfaceIndex: info.interface_index))
        return true
    }

    func deliver(into batch: inout ReceiveBatch) {
        let (datagrams, bytes) = inbound.deliver(into: &batch)
        statistics.datagramsReceived += datagrams
        statistics.bytesReceived += bytes
        moveErrorReports(into: &batch)
    }

    // MARK: Sending

    /// Fills `message` for `count` entries from `start` (one super-datagram when `count > 1`).
    /// Returns false when the destination cannot be expressed for this socket's family.
    func fill(_ message: OutboundMessage, entries: UnsafeBufferPointer<SendBatch.Entry>,
              start: Int, count: Int, segmentSize: Int) -> Bool {
        guard let nameLength = entries[start].destination.write(to: message.name, family: socket.family)
        else { return false }
        for offset in 0 ..< count {
            let entry = entries[start + offset]
            let buffer = sendPool.buffer(at: entry.buffer)
            message.iovecs[offset] = iovec(iov_base: buffer.baseAddress! + Int(entry.start),
                                           iov_len: Int(entry.count))
        }
        var header = msghdr()
        header.msg_name = UnsafeMutableRawPointer(message.name)
        header.msg_namelen = nameLength
        header.msg_iov = message.iovecs
        header.msg_iovlen = count
        let first = entries[start]
        var controlLength = 0
        if let source = first.source {
            controlLength = writeSource(source, interfaceIndex: first.interfaceIndex, into: message)
        }
        if count > 1 {
            controlLength += wirenet_udp_put_segment_cmsg(message.control + controlLength,
                                                          message.controlCapacity - controlLength,
                                                          UInt16(segmentSize))
        }
        if controlLength > 0 {
            header.msg_control = message.control
            header.msg_controllen = controlLength
        }
        message.header.pointee = header
        return true
    }

    /// Writes the source-address cmsg at the start of `message.control`; returns its length.
    func writeSource(_ source: UDPEndpoint.Address, interfaceIndex: UInt32, into message: OutboundMessage) -> Int {
        var address = source.in6
        return withUnsafeBytes(of: &address) { raw in
            wirenet_udp_put_source_cmsg(message.control, message.controlCapacity,
                                        raw.baseAddress!.assumingMemoryBound(to: UInt8.self), interfaceIndex,
                                        socket.family)
        }
    }

    func accountSent(datagrams: Int, bytes: Int, segmented: Bool) {
        statistics.datagramsSent += datagrams
        statistics.bytesSent += bytes
        statistics.sendMessages += 1
        if segmented { statistics.segmentedSends += 1 }
    }

    func close() {
        socket.close()
    }
}
