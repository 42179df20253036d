import Foundation

/// The built `wirenet` executable, next to the test binary (`swift build --build-tests` builds
/// both), or `$WIRENET_BIN`.
public enum WirenetBinary {
    /// Nil when the package was built without the `CLI` trait (Package.swift), whose `wirenet`
    /// only says how to build the real one: tests that run it are then skipped.
    public static var path: String? {
        if let override = ProcessInfo.processInfo.environment["WIRENET_BIN"] { return override }
        #if CLI
        return builtPath
        #else
        return nil
        #endif
    }

    /// The `wirenet` file next to the test binary, whether or not it was built with the `CLI` trait
    /// (for finding the build directory).
    public static var builtPath: String? {
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
