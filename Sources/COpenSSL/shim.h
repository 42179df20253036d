#ifndef WIRENET_COPENSSL_SHIM_H
#define WIRENET_COPENSSL_SHIM_H
// The system's OpenSSL (Debian: libssl-dev) for TLS to DERP relays. OpenSSL spells several calls as
// macros over SSL_ctrl, which Swift cannot import; these inline functions give them names.
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

static inline long wirenet_ssl_set_server_name(SSL *ssl, const char *name) {
    return SSL_set_tlsext_host_name(ssl, name);
}

static inline long wirenet_ssl_set_mode(SSL *ssl, long mode) {
    return SSL_set_mode(ssl, mode);
}

static inline int wirenet_ssl_ctx_set_min_tls12(SSL_CTX *ctx) {
    return (int)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
}

static inline long wirenet_ssl_mode_partial_moving(void) {
    return SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;
}
#endif
