#ifndef WIRENET_SYSTEM_H
#define WIRENET_SYSTEM_H

#include <stdint.h>

// System helpers behind macros or GNU extensions that Swift does not import (ioctl request
// codes built with _IOW, prctl's varargs).

/// Opens /dev/net/tun and attaches it to the TUN interface `name` (created if absent) in
/// IFF_TUN | IFF_NO_PI mode, non-blocking. On success returns the descriptor and writes the
/// kernel's interface name (at most 16 bytes with the NUL) to `actual_name`; returns -errno on failure.
int wirenet_tun_open(const char *name, char actual_name[16]);

/// Sets the MTU of interface `name` and brings it up. Returns 0 or -errno.
int wirenet_interface_up(const char *name, int mtu);

/// Adds an IPv4 address with its prefix length to interface `name` (SIOCSIFADDR + SIOCSIFNETMASK;
/// the kernel then routes the prefix to the interface). `address` is in network byte order.
/// Returns 0 or -errno.
int wirenet_interface_add_ipv4(const char *name, uint32_t address, int prefix_length);

/// Adds an IPv6 address (16 bytes, network order) with its prefix length to interface `name`.
/// Returns 0 or -errno.
int wirenet_interface_add_ipv6(const char *name, const uint8_t address[16], int prefix_length);

/// Names the calling thread (shown by top -H, perf and gdb); at most 15 bytes are kept.
void wirenet_set_thread_name(const char *name);

#endif
