#ifndef WIRENET_SYSTEM_H
#define WIRENET_SYSTEM_H

// System helpers behind macros or GNU extensions that Swift does not import (ioctl request
// codes built with _IOW, prctl's varargs).

/// Opens /dev/net/tun and attaches it to the TUN interface `name` (created if absent) in
/// IFF_TUN | IFF_NO_PI mode, non-blocking. On success returns the descriptor and writes the
/// kernel's interface name (at most 16 bytes with the NUL) to `actual_name`; returns -errno on failure.
int wirenet_tun_open(const char *name, char actual_name[16]);

/// Names the calling thread (shown by top -H, perf and gdb); at most 15 bytes are kept.
void wirenet_set_thread_name(const char *name);

#endif
