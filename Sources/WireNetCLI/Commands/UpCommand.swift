#if CLI  // The command itself needs swift-argument-parser (and --metrics swift-prometheus): Package.swift.
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization
import WireNet

/// `wirenet up`: runs a node — from a wg-quick file, or joining a tailnet through a control server —
/// in the foreground, with port forwarding between the tunnel and the host, until SIGINT or SIGTERM.
struct Up: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Run a node (a wg-quick file, or a tailnet login) until SIGINT/SIGTERM, forwarding ports between the tunnel and this host.",
        discussion: """
        The node comes from --config FILE (a wg-quick file), or joins a tailnet with \
        --control-url URL --authkey-file F --hostname H --state DIR [--ephemeral]: it logs in, waits \
        for the first netmap and reaches peers by name. A refused or expired auth key exits with \
        status 1 and control's message. An ephemeral node logs out on SIGINT/SIGTERM.

        Once the node runs and every rule listens, prints one line to standard output, \
        `ready <address>...`, e.g. `ready 100.64.1.1/32 fd7a:115c:a1e0::1/128`. \
        A bad configuration or rule, or a port in use, is reported as `wirenet: ...` on standard \
        error with exit status 1, and nothing is left running. `wirenet status` reads the node's \
        state from the control socket while it runs.

        --serve [tcp:|udp:]PORT=HOST:PORT
            accept on the tunnel at PORT; carry each connection (UDP: each sender's flow) to HOST:PORT on this host.
        --forward [tcp:|udp:][BIND:]PORT=TUNNEL_IP:PORT
            accept on this host at BIND:PORT (BIND defaults to 127.0.0.1); carry each connection through the tunnel to TUNNEL_IP:PORT \
        (in a tailnet, TUNNEL_IP may be a peer's name).

        Each rule carries at most --max-connections TCP connections (default 8192) and \
        --max-udp-flows UDP flows (default 1024), and at most --max-connections-per-source \
        (default 4096) and --max-udp-flows-per-source (default 256) from one source address (the \
        tunnel peer's address for --serve, the host client's for --forward). A connection beyond \
        them is reset and a datagram from a new sender beyond them dropped, before any socket is \
        opened for it; `wirenet status --json` and the metrics count them as refused. \
        Beneath the rules, the tunnel's TCP/IP stack lets one tunnel address hold at most \
        --max-tunnel-connections-per-address connections opened by its SYNs (default 4096; all \
        --serve rules and TCP states, TIME-WAIT included, together). To carry more than 4096 \
        connections from one peer, raise both --max-tunnel-connections-per-address and \
        --max-connections-per-source. Its SYNs beyond the stack's limit are dropped and counted as \
        perAddressLimitDrops in `wirenet status --json`.
        """)

    @Option(help: ArgumentHelp("The wg-quick configuration file.", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("Join a tailnet through this control server instead of a wg-quick file.", valueName: "url"))
    var controlURL: String?

    @Option(help: ArgumentHelp("A file holding the tailnet auth key (not needed once the state directory is registered).", valueName: "file"))
    var authkeyFile: String?

    @Option(help: ArgumentHelp("The host name to register in the tailnet.", valueName: "name"))
    var hostname: String?

    @Option(help: ArgumentHelp("The state directory keeping the node's keys and registration.", valueName: "dir"))
    var state: String?

    @Flag(help: "Register as an ephemeral node: control forgets it when it stops.")
    var ephemeral = false

    @Option(help: ArgumentHelp("Serve a tunnel port from a host service (repeatable).", valueName: "[tcp:|udp:]PORT=HOST:PORT"))
    var serve: [String] = []

    @Option(help: ArgumentHelp("Forward a host port into the tunnel (repeatable).", valueName: "[tcp:|udp:][BIND:]PORT=TUNNEL_IP:PORT"))
    var forward: [String] = []

    @Option(help: ArgumentHelp("TCP connections one rule carries at once.", valueName: "n"))
    var maxConnections = ForwardingLimits.defaults.connectionsPerRule

    @Option(help: ArgumentHelp("TCP connections one rule carries at once from one source address.", valueName: "n"))
    var maxConnectionsPerSource = ForwardingLimits.defaults.connectionsPerSource

    @Option(help: ArgumentHelp(
        "TCP connections one tunnel address may open to this node, all --serve rules and states (TIME-WAIT included) together (the tunnel stack's limit, beneath the rules').",
        valueName: "n"))
    var maxTunnelConnectionsPerAddress = Node.Options().maximumConnectionsPerRemoteAddress

    @Option(help: ArgumentHelp("UDP flows (senders) one rule carries at once.", valueName: "n"))
    var maxUdpFlows = ForwardingLimits.defaults.flowsPerRule

    @Option(help: ArgumentHelp("UDP flows one rule carries at once from one source address.", valueName: "n"))
    var maxUdpFlowsPerSource = ForwardingLimits.defaults.flowsPerSource

    @Option(help: ArgumentHelp(
        "The control socket for `wirenet status` (default: /run/wirenet/NAME.sock as root, else $XDG_RUNTIME_DIR/wirenet/NAME.sock or /tmp/wirenet-UID/NAME.sock; NAME is the config file's name without .conf).",
        valueName: "path"))
    var controlSocket: String?

    @Option(help: ArgumentHelp(
        "Carry the tunnel's packets on a kernel TUN device of this name instead of the userspace stack (needs root or CAP_NET_ADMIN; host programs then use the tunnel addresses directly, so --serve and --forward do not apply).",
        valueName: "name"))
    var tun: String?

    @Option(help: ArgumentHelp(
        "Serve the node's metrics in the Prometheus text format at http://HOST:PORT/metrics.",
        valueName: "host:port"))
    var metrics: String?

    @OptionGroup var nodeOptions: NodeOptions

    func run() async throws {
        try await reportingFailures {
            let options = try upNodeOptions()
            let session = try UpSession(
                source: try nodeSource(), serve: serve, forward: forward, controlSocket: controlSocket,
                metrics: metrics, limits: try forwardingLimits.validated(), options: options,
                logger: nodeOptions.logger(defaultLevel: .info))
            try await session.run()
        }
    }
}

extension Up {
    /// The node's options: the common ones, the tunnel stack's per-address limit and the packet path.
    func upNodeOptions() throws -> Node.Options {
        var options = nodeOptions.nodeOptions
        guard maxTunnelConnectionsPerAddress >= 1 else {
            throw CommandFailure("--max-tunnel-connections-per-address \(maxTunnelConnectionsPerAddress): must be at least 1")
        }
        options.maximumConnectionsPerRemoteAddress = maxTunnelConnectionsPerAddress
        if let tun {
            guard serve.isEmpty, forward.isEmpty else {
                throw CommandFailure("--tun \(tun): --serve and --forward need the userspace stack; with a TUN device, host programs reach the tunnel addresses directly")
            }
            options.packetPath = .kernelTUN(name: tun)
        }
        return options
    }

    /// The rules' limits from the options.
    var forwardingLimits: ForwardingLimits {
        ForwardingLimits(connectionsPerRule: maxConnections, connectionsPerSource: maxConnectionsPerSource,
                         flowsPerRule: maxUdpFlows, flowsPerSource: maxUdpFlowsPerSource)
    }

    /// The node's configuration from the options: a wg-quick file or a tailnet login, not both.
    func nodeSource() throws -> UpSession.Source {
        switch (config, controlURL) {
        case (let path?, nil):
            guard authkeyFile == nil, hostname == nil, state == nil, !ephemeral else {
                throw CommandFailure("--authkey-file, --hostname, --state and --ephemeral need --control-url, not --config")
            }
            let file = try WGQuickFile(contentsOfFile: path)
            // As wg-quick does: the file holds the private key.
            if let warning = KeyFileAccess.worldAccessibleWarning(forConfiguration: path) { Console.error(warning) }
            return .wgQuick(path: path, file: file)
        case (nil, let url?):
            guard let hostname else { throw CommandFailure("--control-url needs --hostname NAME") }
            guard let state else { throw CommandFailure("--control-url needs --state DIR (the node's keys and registration live there)") }
            var key = ""
            if let authkeyFile { key = try readSecretFile(authkeyFile) }
            return .tailnet(TailnetConfiguration(controlURL: url, authKey: key, hostname: hostname, stateDirectory: state,
                                                 ephemeral: ephemeral))
        case (nil, nil):
            throw CommandFailure("give either --config FILE (wg-quick) or --control-url URL (tailnet)")
        case (_?, _?):
            throw CommandFailure("--config and --control-url exclude each other")
        }
    }
}

/// The first line of a small file holding a secret (an auth key), whitespace trimmed.
func readSecretFile(_ path: String) throws -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw CommandFailure("cannot read the auth key file \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: 4096)
    let count = read(fd, &bytes, bytes.count)
    guard count >= 0 else { throw CommandFailure("cannot read the auth key file \(path): \(String(cString: strerror(errno)))") }
    let text = String(decoding: bytes[0..<count], as: UTF8.self)
    let key = String((text.split(whereSeparator: \.isNewline).first ?? "").filter { !$0.isWhitespace })
    guard !key.isEmpty else { throw CommandFailure("the auth key file \(path) is empty") }
    return key
}

/// One `wirenet up` run, from parsing to shutdown.
///
/// Everything that can fail — the configuration, the rules, the signal handlers, the node, every
/// listening socket, the control socket — is set up before `ready` is printed, and undone in
/// reverse if a step fails, so a failed start leaves no socket, file or thread behind.
struct UpSession {
    /// Where the node's configuration comes from.
    enum Source {
        case wgQuick(path: String, file: WGQuickFile)
        case tailnet(TailnetConfiguration)
    }

    let source: Source
    let serveRules: [ServeRule]
    let forwardRules: [ForwardRule]
    let controlPath: String
    /// The control socket is in the default directory (which must then be private to this user).
    let controlSocketIsDefault: Bool
    /// `--metrics HOST:PORT`, checked at init.
    let metricsAddress: String?
    /// What each rule carries at most.
    let limits: ForwardingLimits
    let options: Node.Options
    let logger: Logger

    /// How long shutdown waits for connections to release their sockets after the node closed.
    static let drainTimeout: Duration = .seconds(3)

    /// Parses the configuration and the rules (nothing is opened yet).
    init(source: Source, serve: [String], forward: [String], controlSocket: String?,
         metrics: String? = nil, limits: ForwardingLimits = .defaults, options: Node.Options, logger: Logger) throws {
        if let metrics { _ = try MetricsEndpoint.parse(metrics) }
        self.limits = limits
        metricsAddress = metrics
        self.source = source
        serveRules = try serve.map { text throws(ForwardingRuleError) in try ServeRule(parsing: text) }
        forwardRules = try forward.map { text throws(ForwardingRuleError) in try ForwardRule(parsing: text) }
        let interface: String
        switch source {
        case .wgQuick(let path, _):
            interface = ControlSocketPath.interfaceName(forConfiguration: path)
            if let named = forwardRules.first(where: { $0.targetName != nil }) {
                throw CommandFailure("--forward \(named): peer names need a tailnet (--control-url); with --config the target must be an address")
            }
        case .tailnet(let tailnet):
            interface = tailnet.hostname
        }
        controlSocketIsDefault = controlSocket == nil
        controlPath = controlSocket ?? ControlSocketPath.current(interface: interface)
        self.options = options
        self.logger = logger
    }

    /// The node for the source (a tailnet node loads its keys from the state directory here).
    private func makeNode() throws -> Node {
        switch source {
        case .wgQuick(let path, let file):
            for (line, key) in file.ignoredKeys {
                logger.notice("\(path):\(line): \(key) changes the host in wg-quick and does nothing in wirenet; ignored")
            }
            return Node(configuration: file.configuration, options: options, logger: logger)
        case .tailnet(let tailnet):
            return try Node(tailnet: tailnet, options: options, logger: logger)
        }
    }

    /// What the log calls the node's configuration.
    private var sourceDescription: String {
        switch source {
        case .wgQuick(let path, _): return path
        case .tailnet(let tailnet): return "\(tailnet.controlURL) as \(tailnet.hostname)"
        }
    }

    func run() async throws {
        let reactor = try SocketReactor.shared()
        let signals = try TerminationSignals(reactor: reactor)
        raiseDescriptorLimit(logger: logger)

        // Everything on the host side first (cheap to undo), then the node, then its tunnel ports.
        let serveTargets = try await resolveServeRules(serveRules)
        let control = try ControlServer(
            path: controlPath, checkingDirectory: controlSocketIsDefault, reactor: reactor, logger: logger)
        let node: Node
        do { node = try makeNode() } catch {
            control.close()
            throw error
        }
        var opened: [any Forwarder] = []
        var metricsEndpoint: MetricsEndpoint?
        do {
            opened = try await openForwardRules(forwardRules, node: node, reactor: reactor, logger: logger, limits: limits)
            do {
                try await node.start()
            } catch {
                // start() throws NodeError; a plain catch and a switch (Swift 6.3.1's SILGen crashed on
                // catch clauses with case patterns around this typed call in some functions).
                switch error {
                case .portInUse(let port):
                    throw CommandFailure("\(sourceDescription): ListenPort \(port): UDP port already in use")
                case .system(let operation, let errno) where operation.hasPrefix("open TUN device") && (errno == EPERM || errno == EACCES):
                    throw CommandFailure("--tun: cannot create the TUN device: permission denied; it needs root or CAP_NET_ADMIN (e.g. `setcap cap_net_admin+ep $(command -v wirenet)`)")
                default:
                    throw error
                }
            }
            opened += try await openServeRules(serveTargets, node: node, reactor: reactor, logger: logger, limits: limits)
            let forwarding = opened
            if let metricsAddress {
                metricsEndpoint = try await MetricsEndpoint.start(address: metricsAddress, node: node, reactor: reactor) {
                    forwarding.map(\.metricsSample)
                }
            }
        } catch {
            for forwarder in opened { forwarder.close() }
            control.close()
            await node.close()
            throw error
        }
        let forwarders = opened

        let running = forwarders.map { forwarder in Task { await forwarder.run() } }
        let answering = Task {
            await control.run { command in
                await Self.answer(command, node: node, forwarders: forwarders)
            }
        }
        let addresses = (try? await node.status().addresses) ?? node.configuration.addresses
        Console.out("ready " + addresses.map(\.description).joined(separator: " "))
        logger.info("wirenet up", metadata: [
            "config": "\(sourceDescription)", "control": "\(controlPath)",
            "rules": "\(forwarders.map(\.rule).joined(separator: "; "))",
        ])

        // Run until SIGINT/SIGTERM, or until the node stops on its own (its UDP socket failed).
        let failure = try await Self.waitForSignalOrFailure(signal: { try await signals.wait() }, node: node)
        if let failure {
            logger.error("the node stopped on its own; exiting", metadata: ["error": "\(failure)"])
        } else {
            logger.info("stopping")
        }
        metricsEndpoint?.close()
        control.close()
        for forwarder in forwarders { forwarder.close() }
        await node.close()
        // Connections waiting on a host socket (a slow service's connect) end by cancellation.
        for forwarder in forwarders { forwarder.connections.cancelAll() }
        let drained = await waitAtMost(Self.drainTimeout) {
            for task in running { await task.value }
            for forwarder in forwarders { await forwarder.connections.waitUntilIdle() }
            await answering.value
        }
        if !drained { logger.warning("some connections did not finish within \(Self.drainTimeout); exiting anyway") }
        if let failure { throw CommandFailure("the node stopped: \(failure)") }
    }

    /// Waits for a termination signal (nil) or the node's own failure (the error), whichever comes
    /// first; `signal` is the wait for SIGINT/SIGTERM (``TerminationSignals/wait()``) and must end
    /// when cancelled.
    static func waitForSignalOrFailure(
        signal: @escaping @Sendable () async throws -> Void, node: Node
    ) async throws -> NodeError? {
        try await withThrowingTaskGroup(of: NodeError?.self) { group in
            group.addTask {
                try await signal()
                return nil
            }
            group.addTask {
                // nil when cancelled (the signal came first) or the node was closed.
                await node.waitUntilStopped()
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
    }

    /// The reply to a control-socket command.
    static func answer(_ command: String, node: Node, forwarders: [any Forwarder]) async -> String {
        if command == "status-json" {
            do { return try StatusJSON(try await node.status(), forwarders: forwarders).encoded() + "\n" } catch {
                return #"{"error": "\#(error)"}"# + "\n"
            }
        }
        guard command == "status" else { return "unknown command \(command); known: status, status-json\n" }
        do {
            var text = try await node.status().description + "\n"
            if !forwarders.isEmpty {
                text += "\n" + forwarders.map(\.statusLine).joined(separator: "\n") + "\n"
            }
            return text
        } catch {
            return "error: \(error)\n"
        }
    }
}

/// Lifts the soft limit on open descriptors to the hard limit: every forwarded connection or UDP
/// flow holds a host socket, and the usual soft limit of 1024 is low for a forwarder.
private func raiseDescriptorLimit(logger: Logger) {
    var limit = rlimit()
    let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    guard getrlimit(resource, &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
    limit.rlim_cur = limit.rlim_max
    if setrlimit(resource, &limit) != 0 {
        logger.debug("cannot raise the open-file limit", metadata: ["errno": "\(errno)"])
    }
}

/// Runs `body` and waits for it at most `limit`; false when the time ran out first (the body goes
/// on in the background).
func waitAtMost(_ limit: Duration, _ body: @escaping @Sendable () async -> Void) async -> Bool {
    let outcome = Once()
    return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
        Task {
            await body()
            if outcome.claim() { continuation.resume(returning: true) }
        }
        Task {
            try? await Task.sleep(for: limit)
            if outcome.claim() { continuation.resume(returning: false) }
        }
    }
}

/// A flag that exactly one caller can claim.
final class Once: Sendable {
    private let claimed = Atomic<Bool>(false)
    func claim() -> Bool { !claimed.exchange(true, ordering: .acquiringAndReleasing) }
}
#endif
