#ifndef WIRENET_CMALLOCCOUNTER_H
#define WIRENET_CMALLOCCOUNTER_H
#include <stdint.h>
/// Heap allocations (malloc, calloc, realloc, aligned variants) made by this process so far.
/// Linked only into benchmark executables: the counting wrappers replace the C library's.
uint64_t wirenet_allocation_count(void);
#endif
