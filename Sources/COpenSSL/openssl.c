// OpenSSL through dlopen: see include/COpenSSL.h.
#include "COpenSSL.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define WIRENET_STR2(x) #x
#define WIRENET_STR(x) WIRENET_STR2(x)
// The soname the headers belong to (Debian 12: libssl.so.3; OpenSSL 1.1.1: libssl.so.1.1).
#if defined(OPENSSL_SHLIB_VERSION)
#define WIRENET_LIBSSL "libssl.so." WIRENET_STR(OPENSSL_SHLIB_VERSION)
#else
#define WIRENET_LIBSSL "libssl.so." SHLIB_VERSION_NUMBER
#endif

// One pointer per function, typed from OpenSSL's own prototype.
#define WIRENET_OPENSSL_FUNCTIONS(X) \
    X(ERR_get_error) X(ERR_error_string_n) X(ERR_clear_error) \
    X(TLS_client_method) X(SSL_CTX_new) X(SSL_CTX_set_verify) X(SSL_CTX_set_default_verify_paths) \
    X(SSL_CTX_ctrl) X(SSL_new) X(SSL_free) X(SSL_ctrl) X(SSL_get0_param) \
    X(X509_VERIFY_PARAM_set1_ip_asc) X(SSL_set1_host) X(SSL_set_fd) X(SSL_set_connect_state) \
    X(SSL_do_handshake) X(SSL_read_ex) X(SSL_write_ex) X(SSL_get_error)

#define WIRENET_DECLARE(name) __typeof__(name) *p_##name;
struct functions { WIRENET_OPENSSL_FUNCTIONS(WIRENET_DECLARE) };
// Written once, under `once`, before `loaded` is set; read only after wirenet_openssl_load returned 1.
static struct functions f;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int loaded;
static char failure[256];

static int resolve(const char *soname, struct functions *into, char *error, size_t capacity) {
    // RTLD_LOCAL: the symbols stay out of the global namespace; libcrypto comes as libssl's dependency.
    // Never closed: OpenSSL keeps per-thread state and exit handlers.
    void *handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *reason = dlerror();
        snprintf(error, capacity, "cannot load OpenSSL (%s) for TLS to DERP relays: %s", soname, reason ? reason : "dlopen failed");
        return 0;
    }
#define WIRENET_RESOLVE(name) \
    if (!(into->p_##name = (__typeof__(name) *)dlsym(handle, #name))) { \
        snprintf(error, capacity, "cannot load OpenSSL (%s) for TLS to DERP relays: no symbol %s", soname, #name); \
        return 0; \
    }
    WIRENET_OPENSSL_FUNCTIONS(WIRENET_RESOLVE)
    return 1;
}

static void load(void) { loaded = resolve(WIRENET_LIBSSL, &f, failure, sizeof failure); }

int wirenet_openssl_load(char *error, size_t capacity) {
    pthread_once(&once, load);
    if (!loaded && capacity > 0) snprintf(error, capacity, "%s", failure);
    return loaded;
}

int wirenet_openssl_probe(const char *soname, char *error, size_t capacity) {
    struct functions unused;
    return resolve(soname, &unused, error, capacity);
}

unsigned long wirenet_ERR_get_error(void) { return f.p_ERR_get_error(); }
void wirenet_ERR_error_string_n(unsigned long code, char *buffer, size_t length) { f.p_ERR_error_string_n(code, buffer, length); }
void wirenet_ERR_clear_error(void) { f.p_ERR_clear_error(); }

SSL_CTX *wirenet_SSL_CTX_new_tls_client(void) { return f.p_SSL_CTX_new(f.p_TLS_client_method()); }
void wirenet_SSL_CTX_set_verify(SSL_CTX *ctx, int mode) { f.p_SSL_CTX_set_verify(ctx, mode, NULL); }
int wirenet_SSL_CTX_set_default_verify_paths(SSL_CTX *ctx) { return f.p_SSL_CTX_set_default_verify_paths(ctx); }
// The SSL_ctrl macros of ssl.h, spelled out.
int wirenet_ssl_ctx_set_min_tls12(SSL_CTX *ctx) {
    return (int)f.p_SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, NULL);
}
SSL *wirenet_SSL_new(SSL_CTX *ctx) { return f.p_SSL_new(ctx); }
void wirenet_SSL_free(SSL *ssl) { f.p_SSL_free(ssl); }
long wirenet_ssl_set_mode_partial_moving(SSL *ssl) {
    return f.p_SSL_ctrl(ssl, SSL_CTRL_MODE, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER, NULL);
}
long wirenet_ssl_set_server_name(SSL *ssl, const char *name) {
    return f.p_SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, (void *)name);
}
X509_VERIFY_PARAM *wirenet_SSL_get0_param(SSL *ssl) { return f.p_SSL_get0_param(ssl); }
int wirenet_X509_VERIFY_PARAM_set1_ip_asc(X509_VERIFY_PARAM *param, const char *address) {
    return f.p_X509_VERIFY_PARAM_set1_ip_asc(param, address);
}
int wirenet_SSL_set1_host(SSL *ssl, const char *hostname) { return f.p_SSL_set1_host(ssl, hostname); }
int wirenet_SSL_set_fd(SSL *ssl, int fd) { return f.p_SSL_set_fd(ssl, fd); }
void wirenet_SSL_set_connect_state(SSL *ssl) { f.p_SSL_set_connect_state(ssl); }
int wirenet_SSL_do_handshake(SSL *ssl) { return f.p_SSL_do_handshake(ssl); }
int wirenet_SSL_read_ex(SSL *ssl, void *buffer, size_t count, size_t *read) { return f.p_SSL_read_ex(ssl, buffer, count, read); }
int wirenet_SSL_write_ex(SSL *ssl, const void *buffer, size_t count, size_t *written) {
    return f.p_SSL_write_ex(ssl, buffer, count, written);
}
int wirenet_SSL_get_error(const SSL *ssl, int result) { return f.p_SSL_get_error(ssl, result); }
