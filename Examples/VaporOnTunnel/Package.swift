// swift-tools-version:6.1
// A Vapor 4 application served on the tunnel: Vapor binds a private unix socket (its one change),
// and WireNetNIO.TunnelRelay carries the tunnel port to it.
import Foundation
import PackageDescription

// The repository by path; SwiftPM names a path dependency after its folder (this checkout's name).
let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized
let wirenet = repository.lastPathComponent.lowercased()

let package = Package(
    name: "VaporOnTunnel",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(path: repository.path),
        .package(url: "https://github.com/vapor/vapor", from: "4.100.0"),
    ],
    targets: [
        .executableTarget(
            name: "VaporOnTunnel",
            dependencies: [
                .product(name: "WireNet", package: wirenet),
                .product(name: "WireNetNIO", package: wirenet),
                .product(name: "Vapor", package: "vapor"),
            ]),
    ]
)
