import COpenSSL
import Glibc

/// Why a TLS connection to a relay failed.
public struct TLSError: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String

    /// The errors OpenSSL queued for this thread, in words, then cleared.
    static func drain(_ operation: String) -> TLSError {
        var messages: [String] = []
        while case let code = wirenet_ERR_get_error(), code != 0 {
            var text = [CChar](repeating: 0, count: 256)
            wirenet_ERR_error_string_n(code, &text, text.count)
            messages.append(string(text))
        }
        return TLSError(description: "\(operation): " + (messages.isEmpty ? "TLS failure" : messages.joined(separator: "; ")))
    }

    /// The NUL-terminated text a C function wrote into `buffer`.
    static func string(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// The OpenSSL client contexts: one that verifies certificates against the system's trust store and
/// one that does not (relays marked `InsecureForTests`). Created once per process, on the first TLS
/// connection, which is also when OpenSSL is loaded (`dlopen`; COpenSSL.h says why).
final class TLSContexts: @unchecked Sendable {
    static let shared = TLSContexts()

    let verifying: OpaquePointer?
    let insecure: OpaquePointer?
    /// Why OpenSSL could not be loaded, when it could not.
    let loadFailure: String?

    private init() {
        var reason = [CChar](repeating: 0, count: 256)
        guard wirenet_openssl_load(&reason, reason.count) == 1 else {
            loadFailure = TLSError.string(reason)
            verifying = nil
            insecure = nil
            return
        }
        loadFailure = nil
        verifying = Self.make(verify: true)
        insecure = Self.make(verify: false)
    }

    private static func make(verify: Bool) -> OpaquePointer? {
        guard let ctx = wirenet_SSL_CTX_new_tls_client() else { return nil }
        _ = wirenet_ssl_ctx_set_min_tls12(ctx)
        if verify {
            wirenet_SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER)
            _ = wirenet_SSL_CTX_set_default_verify_paths(ctx)
        } else {
            wirenet_SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE)
        }
        return ctx
    }
}

/// TLS over a connected non-blocking socket. Reads and writes return ``StreamResult/wouldBlock``
/// when OpenSSL needs the socket; ``wantsWrite`` says which readiness to wait for.
final class TLSStream {
    private let ssl: OpaquePointer
    /// True when the last would-block wanted the socket writable (a handshake or a renegotiation).
    private(set) var wantsWrite = false

    /// - Parameters:
    ///   - serverName: the relay's name: sent as SNI and checked against the certificate, unless
    ///     it is an IP address (then no SNI, and the certificate must carry that address).
    ///   - verify: false only for relays marked `InsecureForTests`.
    init(socket: CInt, serverName: String, verify: Bool) throws(TLSError) {
        let contexts = TLSContexts.shared
        if let reason = contexts.loadFailure { throw TLSError(description: reason) }
        guard let context = verify ? contexts.verifying : contexts.insecure,
              let ssl = wirenet_SSL_new(context) else { throw TLSError.drain("create a TLS session") }
        self.ssl = ssl
        _ = wirenet_ssl_set_mode_partial_moving(ssl)
        let isAddress = serverName.contains(":") || serverName.split(separator: ".").allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) }
        if !isAddress { _ = wirenet_ssl_set_server_name(ssl, serverName) }
        if verify {
            let param = wirenet_SSL_get0_param(ssl)
            let ok = isAddress ? wirenet_X509_VERIFY_PARAM_set1_ip_asc(param, serverName) : wirenet_SSL_set1_host(ssl, serverName)
            guard ok == 1 else {
                wirenet_SSL_free(ssl)
                throw TLSError.drain("set the expected certificate name \(serverName)")
            }
        }
        guard wirenet_SSL_set_fd(ssl, socket) == 1 else {
            wirenet_SSL_free(ssl)
            throw TLSError.drain("attach TLS to the socket")
        }
        wirenet_SSL_set_connect_state(ssl)
    }

    deinit { wirenet_SSL_free(ssl) }

    /// Advances the handshake: `.done(())` once complete.
    func handshake() throws(TLSError) -> StreamResult<Void> {
        let result = wirenet_SSL_do_handshake(ssl)
        if result == 1 { return .done(()) }
        return try blockedOrFailed(result, "TLS handshake with the relay")
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TLSError) -> StreamResult<Int> {
        var count = 0
        let result = wirenet_SSL_read_ex(ssl, buffer.baseAddress, buffer.count, &count)
        if result == 1 { return .done(count) }
        if wirenet_SSL_get_error(ssl, result) == SSL_ERROR_ZERO_RETURN { return .done(0) }
        return try blockedOrFailed(result, "TLS read from the relay")
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(TLSError) -> StreamResult<Int> {
        var count = 0
        let result = wirenet_SSL_write_ex(ssl, bytes.baseAddress, bytes.count, &count)
        if result == 1 { return .done(count) }
        return try blockedOrFailed(result, "TLS write to the relay")
    }

    private func blockedOrFailed<T>(_ result: CInt, _ operation: String) throws(TLSError) -> StreamResult<T> {
        switch wirenet_SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ:
            wantsWrite = false
            return .wouldBlock
        case SSL_ERROR_WANT_WRITE:
            wantsWrite = true
            return .wouldBlock
        case SSL_ERROR_SYSCALL where errno == EAGAIN || errno == EINTR:
            return .wouldBlock
        case SSL_ERROR_SYSCALL:
            let code = errno
            wirenet_ERR_clear_error()
            throw TLSError(description: "\(operation): \(code == 0 ? "connection closed" : String(cString: strerror(code)))")
        default:
            throw TLSError.drain(operation)
        }
    }
}
