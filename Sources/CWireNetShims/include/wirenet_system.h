#ifndef WIRENET_SYSTEM_H
#define WIRENET_SYSTEM_H

#include <stdbool.h>
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

/// The calling thread's name (`PR_GET_NAME`), NUL-terminated, into `name` (16 bytes).
void wirenet_get_thread_name(char name[16]);

/// `accept4(fd, address, length, SOCK_NONBLOCK | SOCK_CLOEXEC)` (a GNU extension): the accepted
/// descriptor is non-blocking and close-on-exec from the start, without two `fcntl` calls.
/// `address` is a `struct sockaddr_storage`, `length` its size in and the address's out. Returns
/// the descriptor, or -1 with errno set.
int wirenet_accept_nonblocking(int fd, void *address, uint32_t *length);

/// Attaches a classic BPF socket filter to the UDP socket `fd` (replacing one attached before) that
/// drops datagrams before the kernel queues them to the socket:
/// - with `drop_foreign`, every datagram that is not a WireGuard message of a possible length
///   (types 1-4 as the little-endian first word: initiation 148 bytes, response 92, cookie reply 64,
///   transport data 32 or more), a disco packet (magic "TS" U+1F4AC, 78 bytes or more) or a STUN
///   message (RFC 5389: first two bits 0, magic cookie 0x2112A442 at offset 4, 20 bytes or more);
///   without it those pass;
/// - with `handshake_one_in` 2 or more, all but one in `handshake_one_in` initiations and responses,
///   chosen at random by the kernel (SKF_AD_RANDOM); 0 samples none out.
/// `exact_handshake_lengths` asks for the exact sizes of handshake messages and cookie replies; leave
/// it off on a socket with UDP GRO, whose super-datagrams are as long as their segments together
/// (then those messages need their size at least). A datagram with under 4 bytes of payload is
/// always dropped. Returns 0 or -errno (-EINVAL for `handshake_one_in` 1).
int wirenet_attach_inbound_filter(int fd, bool drop_foreign, bool exact_handshake_lengths, uint32_t handshake_one_in);

/// Removes the socket filter of `fd`. Returns 0, or -errno (-ENOENT: no filter was attached).
int wirenet_detach_socket_filter(int fd);

/// A spin-wait hint (x86 PAUSE, ARM YIELD): a polling loop stops hogging the core's pipeline and
/// memory-order machinery. No system call.
static inline void wirenet_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
