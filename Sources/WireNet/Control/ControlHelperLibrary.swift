#if canImport(Glibc)
import Glibc
import Locking
#endif

/// The control helper (`libwirenetcontrol.so`, Go, cgo) loaded with `dlopen`, and its four entry
/// points (`Sources/ControlHelper/wirenet_control.h`).
///
/// Loading it starts the Go runtime inside the process, so it happens only when a node is given a
/// control URL, and once per process: a Go shared library cannot be unloaded.
struct ControlHelperLibrary: @unchecked Sendable {
    typealias EventCallback = @convention(c) (UnsafeMutableRawPointer?, Int32, UnsafePointer<UInt8>?, Int64) -> Void
    typealias Start = @convention(c) (UnsafePointer<UInt8>?, Int64, EventCallback?, UnsafeMutableRawPointer?,
                                      UnsafeMutablePointer<UInt8>?, Int64) -> Int64
    typealias Update = @convention(c) (Int64, UnsafePointer<UInt8>?, Int64) -> Int32
    typealias Logout = @convention(c) (Int64, Int64, UnsafeMutablePointer<UInt8>?, Int64) -> Int32
    typealias Stop = @convention(c) (Int64) -> Void

    /// The file that was loaded.
    let path: String
    let start: Start
    let update: Update
    let logout: Logout
    let stop: Stop

    /// The library's file name.
    static let fileName = "libwirenetcontrol.so"
    /// The environment variable that names the library's path.
    static let environmentVariable = "WIRENET_CONTROL_HELPER"
    /// The last place looked, after the executable's directory.
    static let systemPath = "/usr/local/lib/libwirenetcontrol.so"

    private static let loaded = Lock<[String: ControlHelperLibrary]>([:])

    /// Where to look, in the contract's order: the explicit path, `$WIRENET_CONTROL_HELPER`, next to the
    /// running executable, `/usr/local/lib`.
    static func searchPaths(explicit: String?) -> [String] {
        var paths: [String] = []
        if let explicit { paths.append(explicit) }
        if let variable = getenv(environmentVariable), case let value = String(cString: variable), !value.isEmpty {
            paths.append(value)
        }
        if let directory = executableDirectory() { paths.append(directory + "/" + fileName) }
        paths.append(systemPath)
        return paths
    }

    /// Loads the helper from the first path that exists; an explicit path is the only one tried.
    /// - Throws: ``NodeError/controlHelperUnavailable(_:)`` saying where it looked and how to build it.
    static func load(explicit: String?) throws(NodeError) -> ControlHelperLibrary {
        let candidates = searchPaths(explicit: explicit)
        var problems: [String] = []
        for (index, path) in candidates.enumerated() {
            // An explicit path is the only place looked: a missing file there is an error, not a fallback.
            let explicitOnly = index == 0 && explicit != nil
            guard access(path, F_OK) == 0 else {
                if explicitOnly { problems.append("\(path): no such file"); break }
                continue
            }
            switch open(path) {
            case .success(let library): return library
            case .failure(let reason): problems.append("\(path): \(reason)")
            }
            if explicitOnly { break }
        }
        let looked = problems.isEmpty ? "looked in \(candidates.joined(separator: ", "))" : problems.joined(separator: "; ")
        throw .controlHelperUnavailable(
            "the control helper \(fileName) is needed to join a tailnet but could not be loaded (\(looked)); "
                + "build it with scripts/build-control-helper.sh (needs Go), or point \(environmentVariable) at it")
    }

    private static func open(_ path: String) -> Result<ControlHelperLibrary, LoadFailure> {
        loaded.withLock { loaded in
            if let library = loaded[path] { return .success(library) }
            guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
                return .failure(LoadFailure(reason: dlerror().map { String(cString: $0) } ?? "dlopen failed"))
            }
            func symbol<T>(_ name: String, as type: T.Type) -> T? {
                dlsym(handle, name).map { unsafeBitCast($0, to: type) }
            }
            guard let start = symbol("wn_control_start", as: Start.self),
                  let update = symbol("wn_control_update", as: Update.self),
                  let logout = symbol("wn_control_logout", as: Logout.self),
                  let stop = symbol("wn_control_stop", as: Stop.self)
            else {
                // The Go runtime may already run: keep the handle open rather than dlclose it.
                return .failure(LoadFailure(reason: "missing wn_control_* symbols (an old or foreign library)"))
            }
            let library = ControlHelperLibrary(path: path, start: start, update: update, logout: logout, stop: stop)
            loaded[path] = library
            return .success(library)
        }
    }

    private struct LoadFailure: Error { var reason: String }

    private static func executableDirectory() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return nil }
        let path = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let slash = path.lastIndex(of: "/") else { return nil }
        return String(path[..<slash])
    }
}
