#ifndef WIRENET_CWIRENETSHIMS_H
#define WIRENET_CWIRENETSHIMS_H

// Helpers that Swift cannot express well: cmsg macros (GSO/GRO), TUN ioctls.
// Each helper is tiny and documented at its declaration.

#include <stddef.h>
#include <stdint.h>

/// Version of this shim layer; lets Swift code check it links the shim it was built with.
int wirenet_shims_version(void);

#endif
