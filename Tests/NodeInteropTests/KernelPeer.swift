import Foundation
import NetTestSupport
import WireGuard

/// The real peer: wireguard-go on a TUN device in a network namespace this test creates, with the
/// Linux kernel's TCP/IP stack behind it.
///
/// Underlay: a veth pair, root side 10.250.7.1/24 (where the node's UDP socket is reached), namespace
/// side 10.250.7.2/24. Tunnel: the kernel side has 100.64.7.2/24 and fd7a:115c:a1e0:7::2/64.
final class KernelPeer: @unchecked Sendable {
    static let underlayHost = "10.250.7.1"
    static let underlayPeer = "10.250.7.2"
    static let tunnelV4 = "100.64.7.2"
    static let tunnelV6 = "fd7a:115c:a1e0:7::2"
    static let defaultListenPort: UInt16 = 51820
    nonisolated(unsafe) private static var counter = 0
    private static let lock = NSLock()

    let namespace: NetworkNamespace
    /// The veth pair's addresses (/24): the root side, where the node is reached, and the
    /// namespace side, wireguard-go's endpoint. Tests that may run beside others pick their own.
    let underlay: (host: String, peer: String)
    let link: VethLink
    /// The wireguard-go interface name (unique per process and peer: its control socket lives in
    /// /var/run/wireguard, shared by every namespace).
    let interface: String
    let privateKey: PrivateKey
    var publicKey: PublicKey { privateKey.publicKey }
    private(set) var presharedKey: PresharedKey?
    private(set) var listenPort = KernelPeer.defaultListenPort
    private var process: BackgroundProcess?
    let directory: URL

    /// Starts wireguard-go and configures it with the node as its only peer.
    ///
    /// - Parameters:
    ///   - nodeKey: the node's public key.
    ///   - nodePort: the node's UDP port on 10.250.7.1.
    ///   - mtu: the MTU of the wireguard-go interface (its default is 1420).
    init(privateKey: PrivateKey, nodeKey: PublicKey, nodePort: UInt16, presharedKey: PresharedKey? = nil,
         mtu: Int? = nil, underlay: (host: String, peer: String) = (underlayHost, underlayPeer)) throws {
        self.privateKey = privateKey
        self.underlay = underlay
        let n = Self.lock.withLock { () -> Int in Self.counter += 1; return Self.counter }
        interface = "wgn\(getpid() % 100_000)x\(n)"
        self.presharedKey = presharedKey
        namespace = try NetworkNamespace(tag: "ni")
        link = try VethLink(to: namespace, hostAddress: "\(underlay.host)/24",
                            namespaceAddress: "\(underlay.peer)/24")
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("wirenet-interop-\(interface)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let keyFile = directory.appendingPathComponent("private")
        try (privateKey.base64 + "\n").write(to: keyFile, atomically: true, encoding: .utf8)
        process = try namespace.spawn(["wireguard-go", interface], environment: ["WG_PROCESS_FOREGROUND": "1"])
        let socket = "/var/run/wireguard/\(interface).sock"
        try poll("wireguard-go's control socket \(socket)", timeout: 5) {
            guard self.process?.isRunning == true else {
                throw InteropFailure("wireguard-go exited: \(self.process?.output ?? "")")
            }
            return FileManager.default.fileExists(atPath: socket)
        }
        try namespace.exec(["wg", "set", interface, "private-key", keyFile.path, "listen-port", "\(listenPort)"])
        try configureNode(key: nodeKey, port: nodePort)
        try namespace.exec(["ip", "addr", "add", "\(Self.tunnelV4)/24", "dev", interface])
        try namespace.exec(["ip", "-6", "addr", "add", "\(Self.tunnelV6)/64", "dev", interface, "nodad"])
        if let mtu { try namespace.exec(["ip", "link", "set", interface, "mtu", "\(mtu)"]) }
        try namespace.exec(["ip", "link", "set", interface, "up"])
    }

    /// Adds (or updates) the node as wireguard-go's peer, with the node's endpoint.
    func configureNode(key: PublicKey, port: UInt16) throws {
        var command = ["wg", "set", interface, "peer", key.description,
                       "allowed-ips", "100.64.7.1/32,fd7a:115c:a1e0:7::1/128",
                       "endpoint", "\(underlay.host):\(port)"]
        if let presharedKey {
            let file = directory.appendingPathComponent("psk")
            try (presharedKey.base64 + "\n").write(to: file, atomically: true, encoding: .utf8)
            command += ["preshared-key", file.path]
        }
        try namespace.exec(command)
    }

    /// Removes the node's peer entry (wireguard-go erases its sessions) and adds it back: the next
    /// packet either way needs a new handshake.
    func forgetSessions(nodeKey: PublicKey, nodePort: UInt16) throws {
        try namespace.exec(["wg", "set", interface, "peer", nodeKey.description, "remove"])
        try configureNode(key: nodeKey, port: nodePort)
    }

    /// Sets the pre-shared key the node's entry gets at its next ``configureNode(key:port:)`` or
    /// ``forgetSessions(nodeKey:nodePort:)``.
    func setPresharedKey(_ key: PresharedKey?) {
        presharedKey = key
    }

    /// Moves wireguard-go's UDP socket to another port (the node must learn it from the next packet).
    func changeListenPort(to port: UInt16) throws {
        try namespace.exec(["wg", "set", interface, "listen-port", "\(port)"])
        listenPort = port
    }

    /// Drops `percent` % of wireguard-go's UDP datagrams at random, in each direction (nftables in
    /// the namespace: this kernel has no netem).
    func dropUnderlayDatagrams(percent: Int) throws {
        let rules = """
            table inet wirenet_impair {
                chain input {
                    type filter hook input priority 0; policy accept;
                    iifname "\(link.namespaceName)" udp dport \(listenPort) numgen random mod 100 < \(percent) counter drop
                }
                chain output {
                    type filter hook output priority 0; policy accept;
                    oifname "\(link.namespaceName)" udp sport \(listenPort) numgen random mod 100 < \(percent) counter drop
                }
            }
            """
        let file = directory.appendingPathComponent("impair.nft")
        try rules.write(to: file, atomically: true, encoding: .utf8)
        try namespace.exec(["nft", "-f", file.path])
    }

    /// Datagrams the rules of ``dropUnderlayDatagrams(percent:)`` dropped so far (both directions).
    func droppedUnderlayDatagrams() throws -> Int {
        let listing = try namespace.exec(["nft", "list", "table", "inet", "wirenet_impair"])
        return listing.split(separator: "\n").compactMap { line -> Int? in
            guard let range = line.range(of: "packets ") else { return nil }
            return Int(line[range.upperBound...].prefix { $0.isNumber })
        }.reduce(0, +)
    }

    /// `wg show <interface> <field>`.
    func show(_ field: String) throws -> String {
        try namespace.exec(["wg", "show", interface, field])
    }

    /// What wireguard-go printed (for failure messages).
    var log: String { process?.output ?? "" }

    deinit {
        process?.stop()
        link.destroy()
        namespace.destroy()
        try? FileManager.default.removeItem(at: directory)
    }
}
