import Logging
import Synchronization
import WireNet

/// Copies bytes both ways between a host TCP connection and a tunnel ``TCPStream`` until both
/// directions have ended, then releases both.
///
/// - Each direction reads a chunk and awaits its write before reading again, so a slow receiver
///   slows the sender through both TCP windows and nothing queues in between (backpressure).
/// - End of stream on one side becomes a half-close (FIN) on the other; the opposite direction goes
///   on until its own end, as a TCP proxy must for request/response protocols that half-close.
/// - An error on either side (reset, timeout, node closed) resets both sides and ends both
///   directions at once; nothing is left open.
/// - Neither direction waits for a task to carry a chunk: tunnel data goes into the host socket from
///   the node's loop thread (`TCPStream.read(passingTo:)`), host data to the loop from the reactor
///   thread (``HostStream/read(maximumLength:forwardingTo:)``); a task takes over only what a full
///   socket buffer left (backpressure as before). Two thread hand-offs less per forwarded round trip.
/// - Both sides run TCP keepalive (``ForwardingKeepalive``), so a peer that vanishes while the
///   splice is idle or half-closed ends it with a timeout instead of holding it forever.
enum TCPSplice {
    /// Runs the splice to the end.
    /// - Returns: true when both directions ended with a clean end of stream.
    static func run(host: HostStream, tunnel: TCPStream, logger: Logger) async -> Bool {
        // A vanished peer on the host side ends the splice (the tunnel side has the node's keepalive).
        host.enableKeepalive(
            idle: ForwardingKeepalive.seconds(ForwardingKeepalive.idle),
            interval: ForwardingKeepalive.seconds(ForwardingKeepalive.interval),
            count: Int32(ForwardingKeepalive.count))
        let failure = FirstFailure()
        @Sendable func fail(_ direction: String, _ error: any Error) {
            guard failure.record("\(direction): \(error)") else { return }
            // Wake whatever the other direction waits on: both sides' reads and writes end.
            tunnel.abort()
            host.interrupt()
        }
        // One direction in a child task, the other in the caller's: an idle connection holds two
        // suspended tasks (the caller's and this one), not a group's three.
        @Sendable func hostToTunnel() async {
            do {
                // The reactor thread hands each chunk straight to the node's loop thread.
                while try await host.read(forwardingTo: { chunk, taken in tunnel.write(chunk, resuming: taken) }) {}
                try await tunnel.shutdownWrite()
            } catch {
                fail("host → tunnel", error)
            }
        }
        async let upstream: Void = hostToTunnel()
        do {
            // The loop thread sends what arrived into the host socket at once; this task writes
            // only what the socket's buffer did not take.
            while let rest = try await tunnel.read(passingTo: { bytes in host.sendNow(bytes) }) {
                if !rest.isEmpty { try await host.write(rest) }
            }
            host.shutdownWrite()
        } catch {
            fail("tunnel → host", error)
        }
        await upstream
        if let reason = failure.reason {
            logger.debug("connection ended with an error", metadata: [
                "host": "\(host.remoteAddress.map(\.description) ?? "?")", "tunnel": "\(tunnel.remoteAddress)",
                "error": "\(reason)",
            ])
            host.close(reset: true)
            return false
        }
        tunnel.close()
        host.close()
        return true
    }
}

/// The first error of a splice (the second direction's error is usually a consequence of it).
private final class FirstFailure: Sendable {
    private let first = Mutex<String?>(nil)

    /// Records `reason` if nothing failed before; true when it was the first.
    func record(_ reason: String) -> Bool {
        first.withLock { first in
            guard first == nil else { return false }
            first = reason
            return true
        }
    }

    var reason: String? { first.withLock { $0 } }
}
