// swift-tools-version:6.1
// A Hummingbird 2 application served on the tunnel: the app is ordinary Hummingbird; only where it
// binds changes (`app.run(onTunnel:port:)` instead of `app.runService()`).
import Foundation
import PackageDescription

// The repository by path; SwiftPM names a path dependency after its folder (this checkout's name).
let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized
let wirenet = repository.lastPathComponent.lowercased()

let package = Package(
    name: "HummingbirdOnTunnel",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(path: repository.path),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
    ],
    targets: [
        .executableTarget(
            name: "HummingbirdOnTunnel",
            dependencies: [
                .product(name: "WireNet", package: wirenet),
                .product(name: "WireNetNIO", package: wirenet),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]),
    ]
)
