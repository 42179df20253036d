#ifndef WIRENET_CURING_SHIM_H
#define WIRENET_CURING_SHIM_H
#include <liburing.h>
#endif
