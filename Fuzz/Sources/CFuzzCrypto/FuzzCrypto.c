// Crypto support for the structure-aware fuzz targets (FuzzWireGuardDevice): fast, and deterministic
// per input, without changing a single result the code under test sees.
//
// Profile (perf, release -sanitize=fuzzer build, 2026-12-02): about 70 % of FuzzWireGuardDevice's CPU
// time was libsodium, nearly all of it X25519 — 4 scalar multiplications to set up the two devices of
// every input (each addPeer computes the static-static DH twice) and 4–5 per handshake, of which a
// program of 64 steps starts many. The keys were the same in every input but the ephemerals were not:
// libsodium's system RNG chose them, so the same input never ran the same twice.
//
// 1. randombytes is replaced (randombytes_set_implementation) by libsodium's own ChaCha20 stream
//    (randombytes_buf_deterministic) under a seed that counts the calls of the current input; the
//    count starts over at every input (fuzz_crypto_begin_input). Every input therefore draws the same
//    ephemerals, cookie secrets and nonces whatever ran before it: inputs are independent and replay
//    exactly.
// 2. crypto_scalarmult_curve25519 and _base are defined here, in the executable: the WireGuard
//    module's calls bind to these at link time, and these call libsodium's (found with RTLD_NEXT) only
//    for a (scalar, point) not seen before. X25519 is a pure function, so the memo returns exactly
//    what libsodium would. With (1), set-up and handshakes repeat the same few operations in every
//    input, so nearly all of them are answered from the memo; a point the input itself supplies (a
//    changed initiation) is computed. The memo is direct-mapped and bounded (MEMO_SLOTS entries).
//
// Only the fuzz executables link this; the library and the tests never do.
#define _GNU_SOURCE
#include "FuzzCrypto.h"

#include <dlfcn.h>
#include <stdint.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t calls_in_input;
static uint64_t computed, memoized;  // X25519 operations, printed at exit (fuzz-rate.sh keeps the line)

void fuzz_crypto_begin_input(void) { calls_in_input = 0; }

static void deterministic_buf(void *const buf, const size_t size) {
    unsigned char seed[randombytes_SEEDBYTES] = {0x57, 0x4e};  // "WN", then the call's number
    uint64_t n = calls_in_input++;
    memcpy(seed + 8, &n, sizeof n);
    randombytes_buf_deterministic(buf, size, seed);
}

static uint32_t deterministic_random(void) {
    uint32_t value;
    deterministic_buf(&value, sizeof value);
    return value;
}

static const char *deterministic_name(void) { return "wirenet-fuzz-deterministic"; }

static randombytes_implementation deterministic = {
    .implementation_name = deterministic_name,
    .random = deterministic_random,
    .buf = deterministic_buf,
};

static void print_counts(void) {
    fprintf(stderr, "fuzz-crypto: x25519 computed %llu, memoized %llu\n", (unsigned long long)computed,
            (unsigned long long)memoized);
}

// libFuzzer calls this once, before the first input and before the WireGuard module's sodium_init()
// (which stirs whatever implementation is set).
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    if (randombytes_set_implementation(&deterministic) != 0) {
        fprintf(stderr, "fuzz: randombytes_set_implementation failed\n");
        abort();
    }
    atexit(print_counts);
    return 0;
}

#define MEMO_SLOTS (1u << 16)

struct memo_entry {
    unsigned char used;
    int status;
    unsigned char scalar[32];
    unsigned char point[32];
    unsigned char result[32];
};

static struct memo_entry memo[MEMO_SLOTS];

static const unsigned char base_point[32] = {9};

static uint32_t slot_of(const unsigned char *scalar, const unsigned char *point) {
    uint64_t h = 0xcbf29ce484222325u;  // FNV-1a over both
    for (int i = 0; i < 32; i++) h = (h ^ scalar[i]) * 0x100000001b3u;
    for (int i = 0; i < 32; i++) h = (h ^ point[i]) * 0x100000001b3u;
    return (uint32_t)(h ^ (h >> 32)) & (MEMO_SLOTS - 1);
}

typedef int (*scalarmult_fn)(unsigned char *, const unsigned char *, const unsigned char *);
typedef int (*scalarmult_base_fn)(unsigned char *, const unsigned char *);

static void *next_symbol(const char *name) {
    void *symbol = dlsym(RTLD_NEXT, name);
    if (symbol == NULL) {
        fprintf(stderr, "fuzz: %s not found in libsodium: %s\n", name, dlerror());
        abort();
    }
    return symbol;
}

static int memoized_scalarmult(unsigned char *q, const unsigned char *n, const unsigned char *p, int base) {
    static scalarmult_fn sodium_scalarmult;
    static scalarmult_base_fn sodium_scalarmult_base;
    struct memo_entry *entry = &memo[slot_of(n, p)];
    if (entry->used && memcmp(entry->scalar, n, 32) == 0 && memcmp(entry->point, p, 32) == 0) {
        memoized++;
        memcpy(q, entry->result, 32);
        return entry->status;
    }
    computed++;
    int status;
    if (base) {
        if (sodium_scalarmult_base == NULL) sodium_scalarmult_base = (scalarmult_base_fn)next_symbol("crypto_scalarmult_curve25519_base");
        status = sodium_scalarmult_base(q, n);
    } else {
        if (sodium_scalarmult == NULL) sodium_scalarmult = (scalarmult_fn)next_symbol("crypto_scalarmult_curve25519");
        status = sodium_scalarmult(q, n, p);
    }
    entry->used = 1;
    entry->status = status;
    memcpy(entry->scalar, n, 32);
    memcpy(entry->point, p, 32);
    memcpy(entry->result, q, 32);
    return status;
}

int crypto_scalarmult_curve25519(unsigned char *q, const unsigned char *n, const unsigned char *p) {
    return memoized_scalarmult(q, n, p, 0);
}

int crypto_scalarmult_curve25519_base(unsigned char *q, const unsigned char *n) {
    return memoized_scalarmult(q, n, base_point, 1);
}
