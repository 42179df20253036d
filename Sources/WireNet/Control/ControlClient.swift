#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// One login session with a control server through the helper: start, endpoint updates, logout,
/// stop. Events arrive on the helper's threads, one at a time and in order, decoded, at `onEvent`.
///
/// ```
///  ControlClient.start ──wn_control_start──▶ helper ──▶ control
///        onEvent ◀── eventTrampoline ◀── callback(kind, JSON) on a Go thread
/// ```
final class ControlClient: Sendable {
    /// What `wn_control_start` is given (the contract's configuration JSON).
    struct Configuration: Encodable, Sendable {
        var controlURL: String
        var authKey: String
        var hostname: String
        var stateDir: String
        var ephemeral: Bool
        var nodeKey: String
        var discoKey: String
        var endpoints: [String]
        var os = "linux"
        var appName = "wirenet"
    }

    private let library: ControlHelperLibrary
    private let handle: Int64
    nonisolated(unsafe) private let context: UnsafeMutableRawPointer
    private let stopped = Atomic<Bool>(false)

    /// The error buffer's size for `wn_control_start` and `wn_control_logout`.
    private static let errorCapacity = 1024

    /// Starts login and the map poll in the background; never blocks on the network.
    /// - Throws: ``NodeError/loginRefused(_:)`` when the helper rejects the configuration at once.
    init(library: ControlHelperLibrary, configuration: Configuration,
         onEvent: @escaping @Sendable (ControlEvent, Duration) -> Void,
         onMalformed: @escaping @Sendable (ControlProtocolError) -> Void) throws(NodeError) {
        self.library = library
        let sink = ControlEventSink(onEvent: onEvent, onMalformed: onMalformed)
        let context = Unmanaged.passRetained(sink).toOpaque()
        let json: Data
        do { json = try JSONEncoder().encode(configuration) } catch {
            Unmanaged<ControlEventSink>.fromOpaque(context).release()
            throw .control("cannot encode the control configuration: \(error)")
        }
        var error = [UInt8](repeating: 0, count: Self.errorCapacity)
        let handle = json.withUnsafeBytes { bytes in
            library.start(bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), Int64(bytes.count),
                          eventTrampoline, context, &error, Int64(error.count))
        }
        guard handle > 0 else {
            Unmanaged<ControlEventSink>.fromOpaque(context).release()
            throw .loginRefused(Self.text(error))
        }
        self.handle = handle
        self.context = context
    }

    deinit { stop() }

    /// Reports this node's UDP endpoints and disco key to control.
    func update(endpoints: [String], discoKey: String, preferredDERP: Int? = nil) {
        guard !stopped.load(ordering: .acquiring) else { return }
        struct Update: Encodable { var endpoints: [String]; var discoKey: String; var preferredDERP: Int? }
        guard let json = try? JSONEncoder().encode(Update(endpoints: endpoints, discoKey: discoKey, preferredDERP: preferredDERP)) else { return }
        _ = json.withUnsafeBytes { bytes in
            library.update(handle, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), Int64(bytes.count))
        }
    }

    /// Logs the node out (control forgets an ephemeral node at once), waiting at most `timeout`.
    /// Blocks the calling thread: call it off the cooperative pool.
    func logout(timeout: Duration) throws(NodeError) {
        guard !stopped.load(ordering: .acquiring) else { throw .closed }
        var error = [UInt8](repeating: 0, count: Self.errorCapacity)
        let milliseconds = timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
        if library.logout(handle, milliseconds, &error, Int64(error.count)) != 0 {
            throw .control("logout failed: \(Self.text(error))")
        }
    }

    /// Stops the map poll; no event is delivered after it returns. Idempotent.
    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        library.stop(handle)
        Unmanaged<ControlEventSink>.fromOpaque(context).release()
    }

    private static func text(_ buffer: [UInt8]) -> String {
        let end = buffer.firstIndex(of: 0) ?? buffer.count
        let text = String(decoding: buffer[..<end], as: UTF8.self)
        return text.isEmpty ? "the control helper gave no reason" : text
    }
}

/// The C callback handed to the helper: decodes the event and passes it to the session's sink.
private let eventTrampoline: ControlHelperLibrary.EventCallback = { context, kind, json, length in
    guard let context else { return }
    let sink = Unmanaged<ControlEventSink>.fromOpaque(context).takeUnretainedValue()
    let bytes = UnsafeRawBufferPointer(start: json, count: json == nil ? 0 : Int(clamping: max(0, length)))
    sink.deliver(kind: kind, bytes: bytes)
}

/// Receives the helper's events for one session; retained by the callback context until
/// ``ControlClient/stop()`` returns.
private final class ControlEventSink: Sendable {
    /// Receives each event with the time its JSON took to decode.
    let onEvent: @Sendable (ControlEvent, Duration) -> Void
    let onMalformed: @Sendable (ControlProtocolError) -> Void

    init(onEvent: @escaping @Sendable (ControlEvent, Duration) -> Void, onMalformed: @escaping @Sendable (ControlProtocolError) -> Void) {
        self.onEvent = onEvent
        self.onMalformed = onMalformed
    }

    func deliver(kind: Int32, bytes: UnsafeRawBufferPointer) {
        do throws(ControlProtocolError) {
            let started = ContinuousClock.now
            let event = try ControlEvent(kind: kind, json: bytes)
            onEvent(event, ContinuousClock.now - started)
        } catch {
            onMalformed(error)
        }
    }
}
