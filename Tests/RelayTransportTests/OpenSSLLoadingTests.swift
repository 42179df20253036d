import COpenSSL
import Testing

/// OpenSSL is loaded with dlopen on the first TLS connection (COpenSSL.h): a library that is
/// missing or lacks a function is an error in words, never a crash.
@Suite("OpenSSL loaded at run time")
struct OpenSSLLoadingTests {
    private func probe(_ soname: String) -> (loaded: Bool, reason: String) {
        var reason = [CChar](repeating: 0, count: 256)
        let loaded = wirenet_openssl_probe(soname, &reason, reason.count) == 1
        return (loaded, String(decoding: reason.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }

    @Test("the system's libssl loads and every function resolves, and the process-wide load agrees")
    func systemLibraryLoads() {
        var reason = [CChar](repeating: 0, count: 256)
        #expect(wirenet_openssl_load(&reason, reason.count) == 1)
        #expect(wirenet_openssl_load(&reason, reason.count) == 1)
    }

    @Test("a missing libssl is reported with the library's name and the loader's reason")
    func missingLibrary() {
        let (loaded, reason) = probe("libssl.so.0-wirenet-missing")
        #expect(!loaded)
        #expect(reason.hasPrefix("cannot load OpenSSL (libssl.so.0-wirenet-missing) for TLS to DERP relays: "))
        #expect(reason.contains("No such file"))
    }

    @Test("a library without OpenSSL's functions is reported with the first missing function")
    func libraryWithoutTheFunctions() {
        let (loaded, reason) = probe("libc.so.6")
        #expect(!loaded)
        #expect(reason == "cannot load OpenSSL (libc.so.6) for TLS to DERP relays: no symbol ERR_get_error")
    }
}
