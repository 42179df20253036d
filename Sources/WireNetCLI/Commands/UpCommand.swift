import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization
import WireNet

/// `wirenet up`: runs a node from a wg-quick file in the foreground, with port forwarding between
/// the tunnel and the host, until SIGINT or SIGTERM.
struct Up: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Run a node from a wg-quick file until SIGINT/SIGTERM, forwarding ports between the tunnel and this host.",
        discussion: """
        Once the node runs and every rule listens, prints one line to standard output, \
        `ready <address>...`, e.g. `ready 100.64.1.1/32 fd7a:115c:a1e0::1/128`. \
        A bad configuration or rule, or a port in use, is reported as `wirenet: ...` on standard \
        error with exit status 1, and nothing is left running. `wirenet status` reads the node's \
        state from the control socket while it runs.

        --serve [tcp:|udp:]PORT=HOST:PORT
            accept on the tunnel at PORT; carry each connection (UDP: each sender's flow) to HOST:PORT on this host.
        --forward [tcp:|udp:][BIND:]PORT=TUNNEL_IP:PORT
            accept on this host at BIND:PORT (BIND defaults to 127.0.0.1); carry each connection through the tunnel to TUNNEL_IP:PORT.
        """)

    @Option(help: ArgumentHelp("The wg-quick configuration file.", valueName: "file"))
    var config: String

    @Option(help: ArgumentHelp("Serve a tunnel port from a host service (repeatable).", valueName: "[tcp:|udp:]PORT=HOST:PORT"))
    var serve: [String] = []

    @Option(help: ArgumentHelp("Forward a host port into the tunnel (repeatable).", valueName: "[tcp:|udp:][BIND:]PORT=TUNNEL_IP:PORT"))
    var forward: [String] = []

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
            var options = nodeOptions.nodeOptions
            if let tun {
                guard serve.isEmpty, forward.isEmpty else {
                    throw CommandFailure("--tun \(tun): --serve and --forward need the userspace stack; with a TUN device, host programs reach the tunnel addresses directly")
                }
                options.packetPath = .kernelTUN(name: tun)
            }
            let session = try UpSession(
                configPath: config, serve: serve, forward: forward, controlSocket: controlSocket,
                metrics: metrics, options: options, logger: nodeOptions.logger(defaultLevel: .info))
            try await session.run()
        }
    }
}

/// One `wirenet up` run, from parsing to shutdown.
///
/// Everything that can fail — the configuration, the rules, the signal handlers, the node, every
/// listening socket, the control socket — is set up before `ready` is printed, and undone in
/// reverse if a step fails, so a failed start leaves no socket, file or thread behind.
struct UpSession {
    let configPath: String
    let file: WGQuickFile
    let serveRules: [ServeRule]
    let forwardRules: [ForwardRule]
    let controlPath: String
    /// `--metrics HOST:PORT`, checked at init.
    let metricsAddress: String?
    let options: Node.Options
    let logger: Logger

    /// How long shutdown waits for connections to release their sockets after the node closed.
    static let drainTimeout: Duration = .seconds(3)

    /// Parses the configuration and the rules (nothing is opened yet).
    init(configPath: String, serve: [String], forward: [String], controlSocket: String?,
         metrics: String? = nil, options: Node.Options, logger: Logger) throws {
        if let metrics { _ = try MetricsEndpoint.parse(metrics) }
        metricsAddress = metrics
        self.configPath = configPath
        file = try WGQuickFile(contentsOfFile: configPath)
        serveRules = try serve.map { text throws(ForwardingRuleError) in try ServeRule(parsing: text) }
        forwardRules = try forward.map { text throws(ForwardingRuleError) in try ForwardRule(parsing: text) }
        controlPath = controlSocket ?? ControlSocketPath.current(interface: ControlSocketPath.interfaceName(forConfiguration: configPath))
        self.options = options
        self.logger = logger
    }

    func run() async throws {
        for (line, key) in file.ignoredKeys {
            logger.notice("\(configPath):\(line): \(key) changes the host in wg-quick and does nothing in wirenet; ignored")
        }
        let reactor = try SocketReactor.shared()
        let signals = try TerminationSignals(reactor: reactor)
        raiseDescriptorLimit(logger: logger)

        // Everything on the host side first (cheap to undo), then the node, then its tunnel ports.
        let serveTargets = try resolveServeRules(serveRules)
        let control = try ControlServer(path: controlPath, reactor: reactor, logger: logger)
        let node = Node(configuration: file.configuration, options: options, logger: logger)
        var opened: [any Forwarder] = []
        var metricsEndpoint: MetricsEndpoint?
        do {
            opened = try openForwardRules(forwardRules, node: node, reactor: reactor, logger: logger)
            do {
                try await node.start()
            } catch NodeError.portInUse(let port) {
                throw CommandFailure("\(configPath): ListenPort \(port): UDP port already in use")
            } catch NodeError.system(let operation, let errno) where operation.hasPrefix("open TUN device") && (errno == EPERM || errno == EACCES) {
                throw CommandFailure("--tun: cannot create the TUN device: permission denied; it needs root or CAP_NET_ADMIN (e.g. `setcap cap_net_admin+ep $(command -v wirenet)`)")
            }
            opened += try await openServeRules(serveTargets, node: node, reactor: reactor, logger: logger)
            if let metricsAddress { metricsEndpoint = try await MetricsEndpoint.start(address: metricsAddress, node: node) }
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
        Console.out("ready " + file.configuration.addresses.map(\.description).joined(separator: " "))
        logger.info("wirenet up", metadata: [
            "config": "\(configPath)", "control": "\(controlPath)",
            "rules": "\(forwarders.map(\.rule).joined(separator: "; "))",
        ])

        try await signals.wait()
        logger.info("stopping")
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
    }

    /// The reply to a control-socket command.
    static func answer(_ command: String, node: Node, forwarders: [any Forwarder]) async -> String {
        guard command == "status" else { return "unknown command \(command); known: status\n" }
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
