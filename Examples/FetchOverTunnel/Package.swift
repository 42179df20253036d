// swift-tools-version:6.1
// A command-line client that fetches a URL from a peer with AsyncHTTPClient, through the node.
import Foundation
import PackageDescription

// The repository by path; SwiftPM names a path dependency after its folder (this checkout's name).
let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized
let wirenet = repository.lastPathComponent.lowercased()

let package = Package(
    name: "FetchOverTunnel",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(path: repository.path),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.21.0"),
    ],
    targets: [
        .executableTarget(
            name: "FetchOverTunnel",
            dependencies: [
                .product(name: "WireNet", package: wirenet),
                .product(name: "WireNetNIO", package: wirenet),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]),
    ]
)
