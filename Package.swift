// swift-tools-version:6.1
// WireNet: an embeddable WireGuard node with a userspace TCP/IP stack.
// Layout and module rules: Docs/architecture.md.
import PackageDescription

let package = Package(
    name: "WireNet",
    products: [
        .library(name: "Wire", targets: ["Wire"]),
        .library(name: "WireGuard", targets: ["WireGuard"]),
        .library(name: "NetStack", targets: ["NetStack"]),
        .library(name: "UDPTransport", targets: ["UDPTransport"]),
        .library(name: "Relay", targets: ["Relay"]),
        .library(name: "RelayTransport", targets: ["RelayTransport"]),
        .library(name: "WireNet", targets: ["WireNet"]),
        .executable(name: "wirenet", targets: ["wirenet"]),
    ],
    // The `wirenet` command needs swift-argument-parser and swift-prometheus; library users do not.
    // Off by default, so a package that depends on these libraries neither fetches nor builds them
    // (SwiftPM prunes dependencies used only under disabled traits). The repository's scripts build
    // with `--traits CLI`; a build without it makes a `wirenet` that says how to get the real one.
    traits: [
        .trait(name: "CLI", description: "The wirenet command: argument parsing and the Prometheus endpoint."),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
    ],
    targets: [
        // System libraries (Debian: libsodium-dev, liburing-dev).
        .systemLibrary(
            name: "CSodium", pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]),
        .systemLibrary(
            name: "CURing", pkgConfig: "liburing",
            providers: [.apt(["liburing-dev"])]),
        // The few C helpers Swift cannot express (cmsg, TUN ioctl).
        .target(name: "CWireNetShims", dependencies: ["CURing"]),
        // OpenSSL: its headers at build time (Debian: libssl-dev), the library (libssl3) loaded with
        // dlopen on the first TLS connection to a DERP relay, not linked (issue 14: idle RSS).
        .target(name: "COpenSSL"),
        // Locks whose hand-over ThreadSanitizer sees: `Lock` (Synchronization.Mutex plus TSan
        // annotations, empty inlines outside `--sanitize=thread`). Every lock of WireNet's code.
        .target(name: "CThreadSanitizer"),
        .target(name: "Locking", dependencies: ["CThreadSanitizer"]),

        // Sans-IO cores: no sockets, clocks or threads.
        .target(name: "Wire"),
        .target(name: "WireGuard", dependencies: ["CSodium", "Wire"]),
        .target(name: "NetStack", dependencies: ["Wire"]),
        // DERP frames and client handshake, disco messages, NaCl boxes: sans-IO.
        .target(name: "Relay", dependencies: ["CSodium", "Wire", "WireGuard"]),

        // I/O.
        .target(name: "UDPTransport", dependencies: ["CURing", "CWireNetShims"]),
        // DERP connections: TCP, TLS (the system's OpenSSL) or plain HTTP, the upgrade, reconnects.
        .target(name: "RelayTransport", dependencies: ["Relay", "COpenSSL", "Locking", "UDPTransport", "Wire", "WireGuard"]),

        // Public API and CLI.
        .target(
            name: "WireNet",
            dependencies: [
                "Wire", "WireGuard", "NetStack", "UDPTransport", "CWireNetShims", "Relay", "RelayTransport", "Locking",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .executableTarget(
            name: "wirenet",
            dependencies: [
                "WireNet",
                .product(name: "ArgumentParser", package: "swift-argument-parser", condition: .when(traits: ["CLI"])),
                "WireNetCLI",
            ]),
        // The wirenet command's parts (commands, forwarding, control socket, demo), testable.
        .systemLibrary(name: "CEventPoll"),
        .target(
            name: "WireNetCLI",
            dependencies: [
                "WireNet", "Wire", "WireGuard", "NetStack", "UDPTransport", "CWireNetShims", "CEventPoll", "Locking",
                .product(name: "ArgumentParser", package: "swift-argument-parser", condition: .when(traits: ["CLI"])),
                .product(name: "Logging", package: "swift-log"),
            ]),

        // Shared by tests that run real peers (namespaces, veth, child processes).
        .target(name: "NetTestSupport", dependencies: ["CSodium"], path: "Tests/NetTestSupport"),

        .testTarget(name: "UDPTransportTests", dependencies: ["UDPTransport", "Locking"]),
        .testTarget(name: "LockingTests", dependencies: ["Locking"]),
        // perf/udp-bench.sh: UDPTransport loopback throughput next to perf/udp-reference.c.
        .target(name: "CMallocCounter", path: "perf/udp/CMallocCounter"),
        .executableTarget(
            name: "UDPTransportBench", dependencies: ["UDPTransport", "CMallocCounter"],
            path: "perf/udp/UDPTransportBench"),
        .testTarget(name: "PathInteropTests", dependencies: ["NetTestSupport"]),
        .testTarget(name: "RelayTransportTests", dependencies: ["RelayTransport", "COpenSSL", "Relay", "WireGuard", "Wire", "NetTestSupport"]),
        .testTarget(name: "RelayTests", dependencies: ["Relay", "Wire", "WireGuard", "CSodium"]),
        // Allocations of the steady-state data path, node to node (run by WireNetTests' allocation test).
        .executableTarget(
            name: "DataPathAllocationProbe",
            dependencies: ["WireNet", "Wire", "WireGuard", "CMallocCounter", .product(name: "Logging", package: "swift-log")],
            path: "perf/alloc/DataPathAllocationProbe"),
        // perf/conn-memory.sh: resident and malloc'd memory of idle TCP connections to one listener.
        .executableTarget(
            name: "ConnectionMemoryProbe", dependencies: ["NetStack", "Wire", "CHeapInfo"],
            path: "perf/conn-memory/ConnectionMemoryProbe"),
        .target(name: "CHeapInfo", path: "perf/conn-memory/CHeapInfo"),
        // perf/crypto-bench.sh: the WireGuard data path in memory on 1, 2, … crypto threads.
        .executableTarget(
            name: "WireGuardParallelBench",
            dependencies: ["WireNet", "Wire", "WireGuard", "CMallocCounter"],
            path: "perf/crypto/WireGuardParallelBench"),
        // perf/gather-seal-bench.sh: GatherSeal against copy + libsodium seal of one TCP segment.
        .executableTarget(
            name: "GatherSealBench", dependencies: ["WireGuard", "Wire", "CMallocCounter"],
            path: "perf/crypto/GatherSealBench"),
        // perf/idle-timers.sh: engine-thread CPU of 100,000 idle connections between two stacks.
        .executableTarget(
            name: "NetStackIdleTimersBench", dependencies: ["NetStack", "Wire"],
            path: "perf/timers/NetStackIdleTimersBench"),
        .testTarget(name: "WireTests", dependencies: ["Wire"], exclude: ["Fixtures"]),
        .testTarget(name: "WireNetTests", dependencies: ["WireNet", "Wire", "WireGuard", "NetStack", "UDPTransport", "Relay", "CSodium", "NetTestSupport", "Locking",
                                                         .product(name: "Logging", package: "swift-log"),
                                                         .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]),
        // Compiles a user's program that imports WireNet alone (no Wire, WireGuard, NetStack, UDPTransport),
        // and tests the public sockets API as a user sees it (cancellation of every suspending call).
        .testTarget(name: "WireNetAPITests", dependencies: ["WireNet"]),
        .testTarget(name: "WireGuardTests", dependencies: ["WireGuard", "Wire", "NetTestSupport", "CSodium"]),
        .testTarget(name: "NetStackTests", dependencies: ["NetStack", "Wire", "NetTestSupport", "CSodium", "Locking"]),
        .testTarget(name: "NodeInteropTests", dependencies: ["WireNet", "Wire", "WireGuard", "NetStack", "NetTestSupport", "CSodium", "Locking",
                                                             .product(name: "Logging", package: "swift-log")]),
        // Joining a tailnet: netmap decoding, peer table, packet filter; real control servers and peers.
        .testTarget(name: "TailnetTests", dependencies: ["WireNet", "Wire", "WireGuard", "NetTestSupport",
                                                         .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "WireNetCLITests", dependencies: ["WireNetCLI", "WireNet", "Wire", "WireGuard", "NetStack", "CSodium", "CWireNetShims", "NetTestSupport", "Locking",
                                                            .product(name: "Logging", package: "swift-log")]),
    ]
)

// The SwiftNIO bridge (issue 16): NIO channels over TCPStream/TCPListener, and a SOCKS5 front for
// HTTP clients. A product of its own so that the core `WireNet` never depends on NIO.
// Metrics: swift-metrics fed by sampling the node (the core keeps plain counters), and the
// Prometheus endpoint of `wirenet up --metrics`.
package.products += [
    .library(name: "WireNetNIO", targets: ["WireNetNIO"]),
    .library(name: "WireNetMetrics", targets: ["WireNetMetrics"]),
]
package.dependencies += [
    .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
    .package(url: "https://github.com/apple/swift-metrics", from: "2.4.1"),
    .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
]
package.targets.append(contentsOf: [
    .target(
        name: "WireNetNIO",
        dependencies: [
            "WireNet",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
    .target(
        name: "WireNetMetrics",
        dependencies: [
            "WireNet", "Locking",
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
    // NodeMetrics against swift-metrics' test backend after a known transfer between two nodes.
    .testTarget(
        name: "WireNetMetricsTests",
        dependencies: [
            "WireNetMetrics", "WireNet", "NetTestSupport", "Locking",
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "MetricsTestKit", package: "swift-metrics"),
        ]),
    .testTarget(
        name: "WireNetNIOTests",
        dependencies: [
            "WireNetNIO", "WireNet", "Wire", "WireGuard", "NetTestSupport", "CSodium", "Locking",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
])
// The CLI serves `--metrics` with swift-prometheus over its own sockets (the CLI trait only; library
// users never fetch swift-prometheus nor build any of these for the CLI). Not NIO: linked into every
// `wirenet` for that one option, NIO cost idle memory (issue 14, Docs/performance.md).
if let cli = package.targets.first(where: { $0.name == "WireNetCLI" }) {
    let withCLI = TargetDependencyCondition.when(traits: ["CLI"])
    cli.dependencies += [
        .target(name: "WireNetMetrics", condition: withCLI),
        .product(name: "Metrics", package: "swift-metrics", condition: withCLI),
        .product(name: "Prometheus", package: "swift-prometheus", condition: withCLI),
    ]
}
