#include "FuzzHeap.h"

#include <malloc.h>

void fuzz_keep_heap(void) { mallopt(M_TRIM_THRESHOLD, 64 << 20); }
