#ifndef WIRENET_COPENSSL_H
#define WIRENET_COPENSSL_H
// The system's OpenSSL (Debian: libssl-dev headers, libssl3 at run time) for TLS to DERP relays,
// loaded with dlopen on first use rather than linked: a node that never talks to a relay over TLS
// neither maps libssl and libcrypto nor pays their start-up relocations (issue 14: idle RSS).
// The headers give the types and constants; Swift calls only the wirenet_ functions below, each of
// which calls the OpenSSL function of the same name (or the SSL_ctrl macro it is named after)
// through a pointer resolved by wirenet_openssl_load. Calling OpenSSL's own names from Swift fails
// to link, which keeps it that way.
#include <stddef.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

/// Loads libssl (and with it libcrypto) once per process and resolves the functions below.
/// Returns 1 when OpenSSL is usable; 0 otherwise, with the reason in `error` (NUL-terminated,
/// `capacity` > 0). Thread-safe; later calls return the first call's outcome.
int wirenet_openssl_load(char *error, size_t capacity);

/// What wirenet_openssl_load does, for the library `soname` and without keeping anything (the
/// library, once opened, stays mapped): 1, or 0 with the reason in `error`. For tests of the
/// failure path.
int wirenet_openssl_probe(const char *soname, char *error, size_t capacity);

// None of the functions below may be called before wirenet_openssl_load returned 1.
unsigned long wirenet_ERR_get_error(void);
void wirenet_ERR_error_string_n(unsigned long code, char *buffer, size_t length);
void wirenet_ERR_clear_error(void);

SSL_CTX *wirenet_SSL_CTX_new_tls_client(void);
void wirenet_SSL_CTX_set_verify(SSL_CTX *ctx, int mode);
int wirenet_SSL_CTX_set_default_verify_paths(SSL_CTX *ctx);
int wirenet_ssl_ctx_set_min_tls12(SSL_CTX *ctx);
SSL *wirenet_SSL_new(SSL_CTX *ctx);
void wirenet_SSL_free(SSL *ssl);
long wirenet_ssl_set_mode_partial_moving(SSL *ssl);
long wirenet_ssl_set_server_name(SSL *ssl, const char *name);
X509_VERIFY_PARAM *wirenet_SSL_get0_param(SSL *ssl);
int wirenet_X509_VERIFY_PARAM_set1_ip_asc(X509_VERIFY_PARAM *param, const char *address);
int wirenet_SSL_set1_host(SSL *ssl, const char *hostname);
int wirenet_SSL_set_fd(SSL *ssl, int fd);
void wirenet_SSL_set_connect_state(SSL *ssl);
int wirenet_SSL_do_handshake(SSL *ssl);
int wirenet_SSL_read_ex(SSL *ssl, void *buffer, size_t count, size_t *read);
int wirenet_SSL_write_ex(SSL *ssl, const void *buffer, size_t count, size_t *written);
int wirenet_SSL_get_error(const SSL *ssl, int result);

#endif
