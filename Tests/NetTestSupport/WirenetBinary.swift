import Foundation

/// The built `wirenet` executable, next to the test binary (`swift build --build-tests` builds
/// both), or `$WIRENET_BIN`.
public enum WirenetBinary {
    public static var path: String? {
        if let override = ProcessInfo.processInfo.environment["WIRENET_BIN"] { return override }
        let testBinary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: testBinary).deletingLastPathComponent()
        // Bundled layouts put the binary a few levels down; look up to three levels up.
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("wirenet").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return nil
    }

    public static var isBuilt: Bool { path != nil }
}
