#ifndef WIRENET_FUZZ_HEAP_H
#define WIRENET_FUZZ_HEAP_H

/// Keeps freed heap memory in the process instead of giving it back to the kernel after every input
/// (glibc's trim threshold; Swift's Glibc module has no mallopt). See FuzzNetStackStream's
/// LLVMFuzzerInitialize.
void fuzz_keep_heap(void);

#endif
