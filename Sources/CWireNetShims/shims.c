#include "CWireNetShims.h"

int wirenet_shims_version(void) { return 1; }
