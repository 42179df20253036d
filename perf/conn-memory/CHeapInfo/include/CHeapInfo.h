#ifndef WIRENET_CHEAPINFO_H
#define WIRENET_CHEAPINFO_H
#include <stddef.h>
/// Bytes the C allocator has handed out and not yet had back (glibc mallinfo2: arena bytes in use
/// plus mmap'd blocks). For memory measurements only.
size_t wirenet_heap_in_use(void);
#endif
