#if canImport(Glibc)
import Glibc
#endif

/// Where `wirenet up` serves its status and `wirenet status` looks for it.
///
/// The socket is named after the interface, which (as with wg-quick) is the configuration file's
/// name without `.conf`: `wg0.conf` → `wg0.sock`, in
/// - `/run/wirenet/` when running as root,
/// - `$XDG_RUNTIME_DIR/wirenet/` otherwise,
/// - `/tmp/wirenet-<uid>/` when `XDG_RUNTIME_DIR` is not set.
public enum ControlSocketPath {
    /// The interface name of a configuration file: its base name without a `.conf` suffix.
    public static func interfaceName(forConfiguration path: String) -> String {
        var name = Substring(path)
        if let slash = name.lastIndex(of: "/") { name = name[name.index(after: slash)...] }
        if name.hasSuffix(".conf"), name.count > 5 { name = name.dropLast(5) }
        return name.isEmpty ? "wirenet" : String(name)
    }

    /// The directory control sockets live in.
    public static func directory(isRoot: Bool, runtimeDirectory: String?, uid: UInt32) -> String {
        if isRoot { return "/run/wirenet" }
        if let runtimeDirectory, runtimeDirectory.hasPrefix("/") { return "\(runtimeDirectory)/wirenet" }
        return "/tmp/wirenet-\(uid)"
    }

    /// The control socket of interface `name`.
    public static func path(interface name: String, isRoot: Bool, runtimeDirectory: String?, uid: UInt32) -> String {
        "\(directory(isRoot: isRoot, runtimeDirectory: runtimeDirectory, uid: uid))/\(name).sock"
    }

    /// The directory for this process (its user and environment).
    public static var currentDirectory: String {
        directory(isRoot: geteuid() == 0, runtimeDirectory: getenv("XDG_RUNTIME_DIR").map { String(cString: $0) }, uid: geteuid())
    }

    /// The control socket of interface `name` for this process.
    public static func current(interface name: String) -> String {
        "\(currentDirectory)/\(name).sock"
    }
}
