import CWireNetShims
import Glibc

/// Identifies a receive buffer; the datagrams of a ``ReceiveBatch`` point into these buffers.
public struct ReceiveBufferID: Hashable, Sendable {
    public let rawValue: UInt16
}

/// The receive buffers: `count` (a power of two, as a provided-buffer ring wants) buffers, each
/// large enough for one GRO super-datagram, allocated once.
///
/// Every buffer starts with a fixed header area (the multishot-recvmsg header, the source address
/// and the control data, see ``headerSize``) followed by the payload. The portable backend leaves
/// the header area unused so that payloads sit at the same offset on both paths.
final class ReceiveBufferArena {
    /// `sizeof(struct io_uring_recvmsg_out)`: four 32-bit fields (include/uapi/linux/io_uring.h).
    static let recvmsgOutSize = 16
    /// Space reserved for the source address (a `sockaddr_in6`, 28 bytes, rounded up to 32).
    static let nameReserve: Int = 32
    /// Space reserved for control data: `UDP_GRO` + `IPV6_PKTINFO` (+ `IP_PKTINFO`), rounded up.
    static let controlReserve: Int = (wirenet_udp_receive_cmsg_space() + 15) & ~15
    /// Bytes in front of the payload in every buffer.
    static var headerSize: Int { recvmsgOutSize + nameReserve + controlReserve }

    let count: Int
    let stride: Int
    let payloadCapacity: Int
    let memory: UnsafeMutableRawPointer

    init(count: Int, payloadCapacity: Int) {
        precondition(count > 0 && count <= 1 << 15 && count & (count - 1) == 0,
                     "receive buffer count must be a power of two up to 32768")
        self.count = count
        self.payloadCapacity = payloadCapacity
        self.stride = (Self.headerSize + payloadCapacity + 63) & ~63
        memory = UnsafeMutableRawPointer.allocate(byteCount: count * stride, alignment: 4096)
    }

    deinit { memory.deallocate() }

    /// Start of buffer `index` (the header area).
    @inline(__always)
    func base(_ index: UInt16) -> UnsafeMutableRawPointer { memory + Int(index) * stride }

    /// Where the portable backend puts the payload of buffer `index`.
    @inline(__always)
    func payload(_ index: UInt16) -> UnsafeMutableRawPointer { base(index) + Self.headerSize }
}
