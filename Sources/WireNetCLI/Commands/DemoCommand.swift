#if CLI  // The command itself needs swift-argument-parser (and --metrics swift-prometheus): Package.swift.
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

/// `wirenet demo`: two nodes in one process over UDP loopback, an HTTP request through the tunnel,
/// then a throughput run.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Two nodes in this process over UDP loopback: HTTP through the tunnel, then a throughput run.",
        discussion: """
        Node A serves HTTP inside the tunnel (GET / and GET /bytes/N); node B fetches the page over \
        IPv4 and IPv6, then downloads --bytes (or for at most --seconds) and prints progress and \
        the rate. Fresh keys every run; nothing leaves the loopback interface. Exits 1 on any failure.
        """)

    @Option(help: "Bytes of the throughput run.")
    var bytes: UInt64 = 1 << 30

    @Option(help: "Longest the throughput run may take, in seconds.")
    var seconds: Double = 5

    @OptionGroup var nodeOptions: NodeOptions

    /// Time beyond --seconds that setup, the page requests and shutdown may take before the demo
    /// gives up (a handshake that never completes, for instance).
    static let setupAllowance: Double = 20

    func validate() throws {
        guard bytes > 0 else { throw ValidationError("--bytes must be at least 1") }
        guard seconds > 0, seconds <= 3600 else { throw ValidationError("--seconds must be in (0, 3600]") }
    }

    func run() async throws {
        let limit = seconds + Self.setupAllowance
        let watchdog = Task {
            try await Task.sleep(for: .seconds(limit))
            Console.error("wirenet: demo failed: no result after \(fixed(limit, 0)) s")
            Glibc.exit(1)
        }
        defer { watchdog.cancel() }
        do {
            let scenario = DemoScenario(
                bytes: bytes, duration: .milliseconds(Int64(seconds * 1000)), options: nodeOptions.nodeOptions,
                logger: nodeOptions.logger(defaultLevel: .warning))
            try await scenario.run()
        } catch {
            Console.error("wirenet: demo failed: \(error)")
            throw ExitCode.failure
        }
    }
}
#endif
