#ifndef WIRENET_CSODIUM_SHIM_H
#define WIRENET_CSODIUM_SHIM_H
#include <sodium.h>
#endif
