import CWireNetShims
#if canImport(Glibc)
import Glibc
#endif
import Wire
import WireGuard

/// The kernel backend: a TUN device carries the tunnel's IP packets to and from the host's own
/// TCP/IP stack, as wireguard-go does. Needs root (or CAP_NET_ADMIN); the node's sockets API is
/// then unavailable and programs use the host's sockets on the interface instead.
///
/// The device is configured with the node's addresses (each with its prefix, so the kernel routes
/// the prefix to it), the MTU, and brought up. Routes for allowed IPs outside those prefixes are
/// the host's business (`ip route add … dev NAME`), as with `wireguard-go` without `wg-quick`.
final class KernelTUN: PacketBackend {
    let name: String
    private var descriptor: CInt
    /// Packets from the tunnel the device would not take (its queue was full); dropped as a link would.
    private(set) var deliveryDrops = 0

    /// Opens (creating if needed) the TUN interface `name`.
    /// - Parameter configure: set the MTU and addresses and bring the interface up; false leaves that
    ///   to the caller (e.g. to move the interface into another network namespace first).
    init(name: String, mtu: Int, addresses: [IPPrefix], configure: Bool) throws(NodeError) {
        var actual = [CChar](repeating: 0, count: 16)
        let fd = wirenet_tun_open(name, &actual)
        guard fd >= 0 else { throw NodeError.system(operation: "open TUN device \(name) (needs root or CAP_NET_ADMIN)", errno: -fd) }
        descriptor = fd
        self.name = String(decoding: actual.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard configure else { return }
        do {
            try check(wirenet_interface_up(self.name, CInt(mtu)), "bring up \(self.name) with MTU \(mtu)")
            for prefix in addresses {
                switch prefix.address {
                case .v4(let v4):
                    try check(wirenet_interface_add_ipv4(self.name, v4.rawValue.bigEndian, CInt(prefix.length)),
                              "add \(prefix) to \(self.name)")
                case .v6(let v6):
                    var bytes = (v6.high.bigEndian, v6.low.bigEndian)
                    let result = withUnsafeBytes(of: &bytes) { raw in
                        wirenet_interface_add_ipv6(self.name, raw.baseAddress!.assumingMemoryBound(to: UInt8.self), CInt(prefix.length))
                    }
                    try check(result, "add \(prefix) to \(self.name)")
                }
            }
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    private func check(_ result: CInt, _ operation: String) throws(NodeError) {
        if result < 0 { throw NodeError.system(operation: operation, errno: -result) }
    }

    func deliver(_ packet: UnsafeMutableRawBufferPointer, from peer: PublicKey, now: NetInstant) {
        while true {
            let written = write(descriptor, packet.baseAddress, packet.count)
            if written >= 0 { return }
            if errno == EINTR { continue }
            deliveryDrops += 1  // EAGAIN: the device queue is full; other errors: the interface is down
            return
        }
    }

    /// Reads the next packet from the device, whole (`payload` is left empty).
    func nextOutbound(into buffer: UnsafeMutableRawBufferPointer, gathering payload: inout GatherList, now: NetInstant) -> Int? {
        payload = GatherList()
        while true {
            let count = read(descriptor, buffer.baseAddress, buffer.count)
            if count > 0 { return count }
            if count < 0 && errno == EINTR { continue }
            return nil  // EAGAIN: nothing waiting
        }
    }

    func service(now: NetInstant) {}

    func nextDeadline(now: NetInstant) -> NetInstant? { nil }

    var pollDescriptor: CInt { descriptor }

    func close() {
        guard descriptor >= 0 else { return }
        Glibc.close(descriptor)
        descriptor = -1
    }
}
