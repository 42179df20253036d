import NetStack
import Wire

/// The transport protocol a forwarding rule carries.
public enum ForwardedProtocol: String, Sendable, Hashable {
    /// Connections, spliced byte for byte with half-close.
    case tcp
    /// Datagrams, relayed per sender address (a flow) until the flow is idle.
    case udp
}

/// A host and port as written on the command line: an IP literal (IPv6 in brackets) or a host name,
/// resolved when `wirenet up` starts.
public struct HostPort: Hashable, Sendable, CustomStringConvertible {
    /// The host as written, without brackets.
    public var host: String
    /// The port, 1...65535 when parsed from a rule.
    public var port: UInt16

    /// A host and port from their parts.
    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// `host:port`, or `[v6]:port`.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// `--serve [tcp:|udp:]PORT=HOST:PORT`: accept on the node's tunnel addresses at ``tunnelPort`` and
/// carry each connection (or UDP flow) to ``target`` over the host's own network.
///
/// ```
/// --serve 80=127.0.0.1:8080          # tunnel TCP port 80 → local web server
/// --serve udp:53=127.0.0.1:5353      # tunnel UDP port 53 → local resolver
/// ```
public struct ServeRule: Hashable, Sendable, CustomStringConvertible {
    /// TCP (the default) or UDP.
    public var proto: ForwardedProtocol
    /// The port accepted on the tunnel.
    public var tunnelPort: UInt16
    /// The service on the host that connections are carried to.
    public var target: HostPort

    /// A rule from its parts (no validation: a port of 0 is left to the socket calls).
    public init(proto: ForwardedProtocol, tunnelPort: UInt16, target: HostPort) {
        self.proto = proto
        self.tunnelPort = tunnelPort
        self.target = target
    }

    /// The syntax, for messages.
    public static let syntax = "[tcp:|udp:]PORT=HOST:PORT"

    /// Parses the argument of `--serve`.
    /// - Throws: ``ForwardingRuleError`` naming the argument and what is wrong with it.
    public init(parsing text: String) throws(ForwardingRuleError) {
        let fail = { (reason: String) in ForwardingRuleError(option: "--serve", argument: text, reason: reason, syntax: Self.syntax) }
        let (proto, rest) = splitProtocol(text)
        guard let equals = rest.firstIndex(of: "=") else { throw fail("no `=` between the tunnel port and the target") }
        let portText = rest[..<equals]
        guard let port = parsePort(portText) else {
            throw fail("tunnel port `\(portText)` is not a number in 1...65535")
        }
        self.proto = proto
        tunnelPort = port
        do { target = try parseHostPort(rest[rest.index(after: equals)...]) } catch { throw fail(error.reason) }
    }

    /// The canonical form, e.g. `tcp:5201=127.0.0.1:5202`.
    public var description: String { "\(proto.rawValue):\(tunnelPort)=\(target)" }
}

/// `--forward [tcp:|udp:][BIND:]PORT=TUNNEL_IP:PORT`: accept on the host at ``bind`` (default
/// address 127.0.0.1) and carry each connection (or UDP flow) through the tunnel to ``target``.
///
/// ```
/// --forward 8080=100.64.0.2:80                  # 127.0.0.1:8080 → a peer's port 80
/// --forward tcp:[::1]:2222=fd7a:115c:a1e0::2:22 # IPv6 on both sides (no brackets needed after =)
/// --forward 8080=db:80                          # a tailnet peer by name (`wirenet up --control-url`)
/// ```
public struct ForwardRule: Hashable, Sendable, CustomStringConvertible {
    /// TCP (the default) or UDP.
    public var proto: ForwardedProtocol
    /// The host address and port accepted on.
    public var bind: HostPort
    /// The address inside the tunnel that connections are carried to; for a ``targetName`` its
    /// address is unspecified (`0.0.0.0`) and only the port counts.
    public var target: IPEndpoint
    /// A tailnet peer's name (short or full) when the rule names one instead of an address; the
    /// node resolves it from the netmap for each new connection or flow.
    public var targetName: String?

    /// The bind address when the rule names only a port: loopback, so a forward is never exposed
    /// to the network by accident.
    public static let defaultBindHost = "127.0.0.1"

    /// The syntax, for messages.
    public static let syntax = "[tcp:|udp:][BIND:]PORT=TUNNEL_IP:PORT or PEER_NAME:PORT"

    /// A rule from its parts (no validation: bind port 0 lets the kernel pick, which tests use).
    public init(proto: ForwardedProtocol, bind: HostPort, target: IPEndpoint, targetName: String? = nil) {
        self.proto = proto
        self.bind = bind
        self.target = target
        self.targetName = targetName
    }

    /// Parses the argument of `--forward`.
    /// - Throws: ``ForwardingRuleError`` naming the argument and what is wrong with it.
    public init(parsing text: String) throws(ForwardingRuleError) {
        let fail = { (reason: String) in ForwardingRuleError(option: "--forward", argument: text, reason: reason, syntax: Self.syntax) }
        let (proto, rest) = splitProtocol(text)
        guard let equals = rest.firstIndex(of: "=") else { throw fail("no `=` between the local port and the tunnel target") }
        let local = rest[..<equals]
        if let port = parsePort(local) {
            bind = HostPort(host: Self.defaultBindHost, port: port)
        } else if local.contains(":") {
            do { bind = try parseHostPort(local) } catch { throw fail(error.reason) }
        } else {
            throw fail("local port `\(local)` is not a number in 1...65535")
        }
        let remote = rest[rest.index(after: equals)...]
        let target: HostPort
        do { target = try parseHostPort(remote, bareIPv6: true) } catch { throw fail(error.reason) }
        self.proto = proto
        if let address = IPAddress(target.host) {
            self.target = IPEndpoint(address, target.port)
        } else {
            self.target = IPEndpoint(.v4(IPv4Address(rawValue: 0)), target.port)
            targetName = target.host
        }
    }

    /// The canonical form, e.g. `tcp:127.0.0.1:5201=100.64.8.2:5201` or `tcp:127.0.0.1:8080=db:80`.
    public var description: String {
        "\(proto.rawValue):\(bind)=" + (targetName.map { "\($0):\(target.port)" } ?? "\(target)")
    }
}

/// A `--serve` or `--forward` argument that cannot be used.
///
/// The description names the option, the argument, what is wrong and the expected syntax:
/// `bad --serve tcp:x=1.2.3.4:5: tunnel port `x` is not a number in 1...65535 (expected [tcp:|udp:]PORT=HOST:PORT)`.
public struct ForwardingRuleError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `--serve` or `--forward`.
    public var option: String
    /// The argument as given.
    public var argument: String
    /// What is wrong with it.
    public var reason: String
    /// The syntax the option expects.
    public var syntax: String

    public var description: String { "bad \(option) \(argument): \(reason) (expected \(syntax))" }
}

// MARK: Pieces

private struct PieceError: Error { var reason: String }

/// Strips a `tcp:` or `udp:` prefix (TCP when there is none).
private func splitProtocol(_ text: String) -> (ForwardedProtocol, Substring) {
    for proto in [ForwardedProtocol.tcp, .udp] where text.hasPrefix(proto.rawValue + ":") {
        return (proto, text.dropFirst(proto.rawValue.count + 1))
    }
    return (.tcp, text[...])
}

/// A decimal port in 1...65535 (0 means "any" to the kernel, which a rule cannot mean).
private func parsePort(_ text: Substring) -> UInt16? {
    guard !text.isEmpty, text.count <= 5, text.allSatisfy({ $0.isASCII && $0.isNumber }),
          let port = UInt16(text), port != 0 else { return nil }
    return port
}

/// `host:port`, `[v6]:port`, and with `bareIPv6` also `v6:port` (the last colon splits; only used
/// where the host must be an IP literal, so nothing is ambiguous).
private func parseHostPort(_ text: Substring, bareIPv6: Bool = false) throws(PieceError) -> HostPort {
    let host: Substring
    let portText: Substring
    if text.hasPrefix("[") {
        guard let close = text.firstIndex(of: "]") else { throw PieceError(reason: "`[` without `]` in `\(text)`") }
        host = text[text.index(after: text.startIndex)..<close]
        let rest = text[text.index(after: close)...]
        guard rest.hasPrefix(":") else { throw PieceError(reason: "no `:PORT` after `[\(host)]`") }
        portText = rest.dropFirst()
        guard IPv6Address(host) != nil else { throw PieceError(reason: "`\(host)` is not an IPv6 address") }
    } else {
        guard let colon = text.lastIndex(of: ":") else { throw PieceError(reason: "`\(text)` has no `:PORT`") }
        host = text[..<colon]
        portText = text[text.index(after: colon)...]
        if host.contains(":") {
            guard bareIPv6, IPv6Address(host) != nil else {
                throw PieceError(reason: "IPv6 address `\(host)` needs brackets: [\(host)]:\(portText)")
            }
        }
    }
    guard !host.isEmpty else { throw PieceError(reason: "empty host in `\(text)`") }
    guard host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".-_:%".contains($0)) }) else {
        throw PieceError(reason: "`\(host)` is not a host name or address")
    }
    guard let port = parsePort(portText) else { throw PieceError(reason: "port `\(portText)` is not a number in 1...65535") }
    return HostPort(host: String(host), port: port)
}
