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
