/// What a ``Node`` needs to join a tailnet through a Tailscale-compatible control server (tsnet's
/// `Server` fields): where control is, how to log in, what to be called, where to keep its identity.
///
/// ```swift
/// let node = try Node(tailnet: TailnetConfiguration(
///     controlURL: "http://127.0.0.1:9911", authKey: key, hostname: "web",
///     stateDirectory: "/var/lib/web/wirenet"))
/// try await node.start()          // logs in and waits for the first netmap
/// let stream = try await node.dial(tcp: "db", port: 5432)
/// ```
public struct TailnetConfiguration: Sendable {
    /// The control server's URL, e.g. `http://127.0.0.1:9911`.
    public var controlURL: String
    /// An auth key (`tskey-auth-…`); may be empty when the state directory holds a registration
    /// with this control server.
    public var authKey: String
    /// The host name to register; peers reach the node by it.
    public var hostname: String
    /// Where the node keeps its keys (`node.key`, `disco.key`, `machine.key`, mode 0600) and its
    /// registration, so a restart comes back with the same identity and addresses.
    public var stateDirectory: String
    /// Register as an ephemeral node: control removes it when it logs out (``Node/close()``) or
    /// loses its map stream.
    public var ephemeral: Bool
    /// The UDP port to listen on; nil picks one.
    public var listenPort: UInt16?
    /// The tunnel MTU (tailscale uses 1280).
    public var mtu: Int
    /// How long ``Node/start()`` waits for login and the first netmap.
    public var loginTimeout: Duration

    /// tailscale's tunnel MTU (`tstun.DefaultTUNMTU`, 1280).
    public static let defaultMTU = 1280

    public init(controlURL: String, authKey: String, hostname: String, stateDirectory: String,
                ephemeral: Bool = false, listenPort: UInt16? = nil, mtu: Int = TailnetConfiguration.defaultMTU,
                loginTimeout: Duration = .seconds(30)) {
        self.controlURL = controlURL
        self.authKey = authKey
        self.hostname = hostname
        self.stateDirectory = stateDirectory
        self.ephemeral = ephemeral
        self.listenPort = listenPort
        self.mtu = mtu
        self.loginTimeout = loginTimeout
    }

    /// Checks what can be checked without the network.
    public func validate() throws(ConfigurationError) {
        func fail(_ message: String) -> ConfigurationError { ConfigurationError(file: "<tailnet>", line: nil, message: message) }
        guard controlURL.hasPrefix("http://") || controlURL.hasPrefix("https://") else {
            throw fail("control URL \(controlURL) must start with http:// or https://")
        }
        guard !hostname.isEmpty, hostname.utf8.count <= 63,
              hostname.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x41 && $0 <= 0x5A) || $0 == 0x2D })
        else {
            throw fail("hostname \(hostname) must be 1-63 letters, digits or '-' (a DNS label, RFC 1123 §2.1)")
        }
        guard !stateDirectory.isEmpty else { throw fail("the state directory must be set") }
        guard (NodeConfiguration.minimumMTU...NodeConfiguration.maximumMTU).contains(mtu) else {
            throw fail("MTU \(mtu) is out of range \(NodeConfiguration.minimumMTU)...\(NodeConfiguration.maximumMTU)")
        }
    }
}
