// swift-tools-version:6.1
// libFuzzer targets for every packet parser. Build and run them with `scripts/fuzz.sh`.
// Each target is an executable whose only entry point is `LLVMFuzzerTestOneInput`; it is built with
// `swift build --sanitize=fuzzer -Xswiftc -parse-as-library` so the parsers are coverage-instrumented.
import PackageDescription

func fuzzTarget(_ name: String, _ dependencies: [String], support: [Target.Dependency] = []) -> Target {
    .executableTarget(
        name: name,
        dependencies: dependencies.map { .product(name: $0, package: "WireNet") } + support)
}

let package = Package(
    name: "WireNetFuzz",
    dependencies: [.package(name: "WireNet", path: "..")],
    targets: [
        fuzzTarget("FuzzIPv4", ["Wire"]),
        fuzzTarget("FuzzIPv6", ["Wire"]),
        fuzzTarget("FuzzTCP", ["Wire"]),
        fuzzTarget("FuzzUDP", ["Wire"]),
        fuzzTarget("FuzzICMP", ["Wire"]),
        fuzzTarget("FuzzWireGuardDevice", ["WireGuard", "Wire"], support: ["CFuzzCrypto"]),
        fuzzTarget("FuzzNetStack", ["NetStack", "Wire"], support: ["CFuzzHeap"]),
        fuzzTarget("FuzzNetStackStream", ["NetStack", "Wire"], support: ["CFuzzHeap"]),
        fuzzTarget("FuzzDERP", ["Relay", "WireGuard", "Wire"]),
        fuzzTarget("FuzzDisco", ["Relay", "WireGuard"]),
        fuzzTarget("FuzzNetmap", ["WireNet"]),
        // Deterministic randomness per input and an X25519 memo for the device target
        // (Sources/CFuzzCrypto/FuzzCrypto.c says why).
        .target(name: "CFuzzCrypto", linkerSettings: [.linkedLibrary("sodium")]),
        // The NetStack targets' heap setting (Swift's Glibc module has no mallopt).
        .target(name: "CFuzzHeap"),
    ]
)
