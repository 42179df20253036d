// The lower modules' types that appear in WireNet's public API, re-exported one by one so that
// `import WireNet` alone is enough to use every public signature of the module (checked by
// Tests/WireNetAPITests, whose sources import nothing else). Only these names are exported: the rest
// of Wire, WireGuard, NetStack and UDPTransport stays internal to the implementation.

// Addresses inside the tunnel (Wire).
@_exported import enum Wire.IPAddress
@_exported import struct Wire.IPv4Address
@_exported import struct Wire.IPv6Address
@_exported import struct Wire.IPPrefix
@_exported import struct Wire.AddressParseError
// The one endpoint type (address + port): underlay UDP endpoints and socket addresses in the tunnel.
@_exported import struct Wire.IPEndpoint

// Keys (WireGuard).
@_exported import struct WireGuard.Key32
@_exported import struct WireGuard.PublicKey
@_exported import class WireGuard.PrivateKey
@_exported import class WireGuard.PresharedKey
@_exported import struct WireGuard.KeyParseError
// The jobs and batch of ``CryptoWorkers``, public for the crypto benchmarks.
@_exported import struct WireGuard.TransportCryptoJob
@_exported import class WireGuard.CryptoBatch
@_exported import enum WireGuard.DropReason
@_exported import enum WireGuard.DeviceTraceEvent

// TCP settings of the userspace stack (NetStack).
@_exported import struct NetStack.TCPConfiguration
@_exported import enum NetStack.TCPCongestionControlAlgorithm

import UDPTransport

extension Node {
    /// Which UDP I/O path a node uses for its WireGuard packets (``Node/Options/transportBackend``):
    /// `.automatic` (io_uring when the kernel allows it, otherwise `recvmmsg`/`sendmmsg`), `.ioUring`
    /// or `.portable`.
    public typealias TransportBackend = UDPTransport.Backend
}
