// glibc's malloc statistics, which Swift's Glibc module does not import (malloc.h).
#include "CHeapInfo.h"
#include <malloc.h>

size_t wirenet_heap_in_use(void) {
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}
