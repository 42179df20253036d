#if CLI  // The command itself needs swift-argument-parser (and --metrics swift-prometheus): Package.swift.
import ArgumentParser
import Logging
import UDPTransport
import WireNet

/// The UDP I/O path, as `--transport` spells it.
public enum TransportChoice: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// io_uring; the node fails to start where the kernel forbids it.
    case ioUring = "io_uring"
    /// `recvmmsg`/`sendmmsg`.
    case portable
    /// io_uring when available, else portable.
    case auto

    var backend: UDPTransport.Backend {
        switch self {
        case .ioUring: return .ioUring
        case .portable: return .portable
        case .auto: return .automatic
        }
    }
}

/// The tunnel stack's TCP congestion control, as `--tcp-congestion-control` spells it.
public enum CongestionControlChoice: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// CUBIC (RFC 9438), the default.
    case cubic
    /// NewReno (RFC 5681, RFC 6582).
    case newreno
    /// A BBR-style model-based policy: paced, and holds its rate under random loss.
    case bbr

    var algorithm: TCPCongestionControlAlgorithm {
        switch self {
        case .cubic: return .cubic
        case .newreno: return .newReno
        case .bbr: return .bbr
        }
    }
}

/// A swift-log level, as `--log-level` spells it.
public enum LogLevelChoice: String, ExpressibleByArgument, CaseIterable, Sendable {
    // swift-log's levels, most verbose first.
    case trace, debug, info, notice, warning, error, critical

    var level: Logger.Level { Logger.Level(rawValue: rawValue) ?? .info }
}

/// Options every command that runs a node takes.
struct NodeOptions: ParsableArguments {
    @Option(help: "Log level; logs go to standard error. (default: info for up, warning for demo)")
    var logLevel: LogLevelChoice?

    @Option(help: "UDP I/O path: io_uring, portable (recvmmsg/sendmmsg) or auto.")
    var transport: TransportChoice = .auto

    @Flag(help: "Turn off UDP segmentation offload (works around kernel GSO bugs).")
    var noGso = false

    @Flag(help: "Turn off UDP receive coalescing (works around kernel GRO bugs).")
    var noGro = false

    @Option(help: "TCP congestion control of the tunnel's connections: cubic, newreno or bbr (loss-tolerant, paced).")
    var tcpCongestionControl: CongestionControlChoice = .cubic

    var nodeOptions: Node.Options {
        var options = Node.Options()
        options.transportBackend = transport.backend
        options.segmentationOffload = !noGso
        options.receiveCoalescing = !noGro
        // Every tunnel connection of the CLI is a forwarder's: find vanished peers (ForwardingKeepalive).
        options.tcp.keepalive = ForwardingKeepalive.tunnel
        // The CLI forwards: what a host socket hands over goes on at once, as its host sockets do
        // (TCP_NODELAY, HostStream); the application at the far end already chose about Nagle.
        options.tcp.noDelay = true
        options.tcp.congestionControl = tcpCongestionControl.algorithm
        return options
    }

    /// A logger writing to standard error at the chosen level (standard output is for results).
    func logger(label: String = "wirenet", defaultLevel: Logger.Level) -> Logger {
        var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = logLevel?.level ?? defaultLevel
        return logger
    }
}

/// A failure a command reports as `wirenet: <message>` on standard error, exiting with status 1.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs `body`; any error is printed as `wirenet: <error>` and becomes exit status 1 (not
/// ArgumentParser's usage status 64: a bad configuration is not a usage error).
func reportingFailures(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let exit as ExitCode {
        throw exit
    } catch let error as NodeError {
        Console.error("wirenet: \(error.description)")
        throw ExitCode.failure
    } catch {
        Console.error("wirenet: \(error)")
        throw ExitCode.failure
    }
}
#endif
