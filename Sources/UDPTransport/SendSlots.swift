import CWireNetShims
import Glibc

/// Storage for `sendmsg` operations in flight on the io_uring path: each slot owns a `msghdr`,
/// room for a super-datagram's iovecs, the destination, the `UDP_SEGMENT` cmsg and the indices
/// of the send buffers it carries, all of which must stay put until the completion arrives.
final class SendSlots {
    struct Slot {
        var datagrams: Int
        var segmentSize: Int
        var bytes: Int
        var destination: UDPEndpoint
        var source: UDPEndpoint.Address?
        var interfaceIndex: UInt32
        /// Resent once after an error that an earlier ICMP message may have left on the socket.
        var retried: Bool
    }

    let count: Int
    let maximumSegments: Int
    private let headers: UnsafeMutablePointer<msghdr>
    private let iovecs: UnsafeMutablePointer<iovec>
    private let names: UnsafeMutablePointer<sockaddr_in6>
    private let controls: UnsafeMutableRawPointer
    private let controlStride: Int
    private let bufferIndices: UnsafeMutablePointer<UInt32>
    let slots: UnsafeMutablePointer<Slot>
    private let freeList: UnsafeMutablePointer<Int32>
    private(set) var freeCount: Int

    init(count: Int, maximumSegments: Int) {
        self.count = count
        self.maximumSegments = maximumSegments
        headers = .allocate(capacity: count)
        iovecs = .allocate(capacity: count * maximumSegments)
        names = .allocate(capacity: count)
        controlStride = (wirenet_udp_send_cmsg_space() + 15) & ~15
        controls = .allocate(byteCount: count * controlStride, alignment: 16)
        bufferIndices = .allocate(capacity: count * maximumSegments)
        slots = .allocate(capacity: count)
        freeList = .allocate(capacity: count)
        for index in 0 ..< count { freeList[index] = Int32(count - 1 - index) }
        freeCount = count
    }

    deinit {
        headers.deallocate()
        iovecs.deallocate()
        names.deallocate()
        controls.deallocate()
        bufferIndices.deallocate()
        slots.deallocate()
        freeList.deallocate()
    }

    func acquire() -> Int? {
        guard freeCount > 0 else { return nil }
        freeCount -= 1
        return Int(freeList[freeCount])
    }

    func release(_ slot: Int) {
        freeList[freeCount] = Int32(slot)
        freeCount += 1
    }

    var inFlight: Int { count - freeCount }

    func message(_ slot: Int) -> OutboundMessage {
        OutboundMessage(header: headers + slot, iovecs: iovecs + slot * maximumSegments, name: names + slot,
                        control: controls + slot * controlStride, controlCapacity: controlStride)
    }

    func header(_ slot: Int) -> UnsafeMutablePointer<msghdr> { headers + slot }

    func buffers(_ slot: Int) -> UnsafeMutablePointer<UInt32> { bufferIndices + slot * maximumSegments }

    func iovec(_ slot: Int, _ index: Int) -> Glibc.iovec { iovecs[slot * maximumSegments + index] }

    /// Makes `target` a single-datagram copy of datagram `index` of `source` (keeping its source
    /// address, dropping `UDP_SEGMENT`).
    func copySingle(from source: Int, index: Int, to target: Int, core: TransportCore) {
        let message = self.message(target)
        message.iovecs[0] = iovec(source, index)
        message.name.pointee = names[source]
        buffers(target)[0] = buffers(source)[index]
        var header = msghdr()
        header.msg_name = UnsafeMutableRawPointer(message.name)
        header.msg_namelen = headers[source].msg_namelen
        header.msg_iov = message.iovecs
        header.msg_iovlen = 1
        let state = slots[source]
        if let address = state.source {
            header.msg_control = message.control
            header.msg_controllen = core.writeSource(address, interfaceIndex: state.interfaceIndex, into: message)
        }
        message.header.pointee = header
        slots[target] = Slot(datagrams: 1, segmentSize: Int(message.iovecs[0].iov_len),
                             bytes: Int(message.iovecs[0].iov_len), destination: state.destination,
                             source: state.source, interfaceIndex: state.interfaceIndex, retried: false)
    }
}
