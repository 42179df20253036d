#ifndef WIRENET_FUZZ_CRYPTO_H
#define WIRENET_FUZZ_CRYPTO_H

/// Makes libsodium's randomness deterministic (see FuzzCrypto.c) and starts its sequence over:
/// call at the start of every input, so that an input replays exactly, whatever ran before it.
void fuzz_crypto_begin_input(void);

#endif
