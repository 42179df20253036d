// swift-tools-version:6.1
// Benchmarks for WireNet, each next to a reference measured in the same run.
// A package of its own so that the library's build does not pull in the benchmark dependencies.
// Run: swift package --allow-writing-to-package-directory benchmark        (all suites)
//      swift package benchmark --target WireBenchmarks                     (one suite)
import PackageDescription

func benchmarkTarget(_ name: String, _ dependencies: [String], extra: [Target.Dependency] = []) -> Target {
    .executableTarget(
        name: name,
        dependencies: [.product(name: "Benchmark", package: "package-benchmark")]
            + dependencies.map { .product(name: $0, package: "WireNet") } + extra,
        path: "Benchmarks/\(name)",
        plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")])
}

let package = Package(
    name: "WireNetBenchmarks",
    dependencies: [
        .package(name: "WireNet", path: ".."),
        .package(url: "https://github.com/ordo-one/package-benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        benchmarkTarget("WireBenchmarks", ["Wire"]),
        benchmarkTarget("UDPTransportBenchmarks", ["UDPTransport"]),
        benchmarkTarget("WireGuardBenchmarks", ["WireGuard", "Wire"]),
        benchmarkTarget("NetStackBenchmarks", ["NetStack", "Wire"]),
        benchmarkTarget("CryptoThreadsBenchmarks", ["WireNet", "WireGuard", "Wire"]),
        benchmarkTarget("NodeBenchmarks", ["WireNet", "Wire", "WireGuard"], extra: [.product(name: "Logging", package: "swift-log")]),
    ]
)
