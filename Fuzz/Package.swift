// swift-tools-version:6.1
// libFuzzer targets for every packet parser. Build and run them with `scripts/fuzz.sh`.
// Each target is an executable whose only entry point is `LLVMFuzzerTestOneInput`; it is built with
// `swift build --sanitize=fuzzer -Xswiftc -parse-as-library` so the parsers are coverage-instrumented.
import PackageDescription

func fuzzTarget(_ name: String, _ dependencies: [String]) -> Target {
    .executableTarget(
        name: name,
        dependencies: dependencies.map { .product(name: $0, package: "WireNet") })
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
        fuzzTarget("FuzzWireGuardDevice", ["WireGuard", "Wire"]),
        fuzzTarget("FuzzNetStack", ["NetStack", "Wire"]),
        fuzzTarget("FuzzNetStackStream", ["NetStack", "Wire"]),
        fuzzTarget("FuzzDERP", ["Relay", "WireGuard", "Wire"]),
        fuzzTarget("FuzzDisco", ["Relay", "WireGuard"]),
        fuzzTarget("FuzzNetmap", ["WireNet"]),
    ]
)
