#ifndef WIRENET_CWIRENETSHIMS_H
#define WIRENET_CWIRENETSHIMS_H

// Helpers that Swift cannot express well: cmsg macros (GSO/GRO, PKTINFO, RECVERR), the
// multishot-recvmsg buffer layout of liburing (its helpers take a `struct msghdr` and walk cmsgs
// with macros), errno names. Each helper is tiny and documented at its declaration.

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <poll.h>

#include "wirenet_system.h"

/// Version of this shim layer; lets Swift code check it links the shim it was built with.
int wirenet_shims_version(void);

/// What the ancillary data of one received UDP message said.
struct wirenet_udp_cmsg_info {
    /// `UDP_GRO` segment size of a coalesced super-datagram; 0 when the message is one datagram.
    uint16_t gro_segment_size;
    /// 1 when `local_address`/`interface_index` came from an `IP_PKTINFO`/`IPV6_PKTINFO` cmsg.
    uint8_t has_packet_info;
    /// 1 when `error_*` came from an `IP_RECVERR`/`IPV6_RECVERR` cmsg (error-queue reads).
    uint8_t has_error;
    /// Local (destination) address of the datagram: IPv6, or IPv4 as `::ffff:a.b.c.d`.
    uint8_t local_address[16];
    /// Interface the datagram arrived on.
    uint32_t interface_index;
    /// `sock_extended_err.ee_errno` and `ee_origin` of an error-queue message.
    int32_t error_number;
    uint8_t error_origin;
};

/// Walks the cmsgs of `msg` (after `recvmsg`/`recvmmsg`) and fills `info` (zeroed first).
void wirenet_udp_parse_cmsgs(const struct msghdr *msg, struct wirenet_udp_cmsg_info *info);

/// One datagram (or GRO super-datagram) as laid out by a multishot `IORING_OP_RECVMSG` in a
/// provided buffer: `struct io_uring_recvmsg_out`, then the name, then the control data, then the payload.
struct wirenet_uring_recvmsg {
    uint8_t *payload;
    uint32_t payload_length;
    /// `msg_flags` of the message (`MSG_TRUNC`, `MSG_CTRUNC`).
    uint32_t flags;
    /// The source address as written by the kernel (`sockaddr_in` or `sockaddr_in6`).
    const struct sockaddr *name;
    uint32_t name_length;
    struct wirenet_udp_cmsg_info info;
};

/// Parses a provided buffer filled by a multishot recvmsg. `buffer_length` is the CQE's `res`;
/// `msgh` is the `msghdr` the request was armed with (only its name and control lengths are read).
/// Returns 0 on success, -1 when the buffer is too short for the layout (a kernel/ABI mismatch).
int wirenet_uring_recvmsg_parse(void *buffer, int buffer_length, struct msghdr *msgh,
                                struct wirenet_uring_recvmsg *out);

/// Bytes a `UDP_SEGMENT` cmsg takes (`CMSG_SPACE(sizeof(uint16_t))`).
size_t wirenet_udp_segment_cmsg_space(void);

/// Writes a `SOL_UDP`/`UDP_SEGMENT` cmsg with `segment_size` at the start of `control`
/// (`capacity` bytes). Returns the bytes used, or 0 when `capacity` is too small.
size_t wirenet_udp_put_segment_cmsg(void *control, size_t capacity, uint16_t segment_size);

/// Bytes of control space a send needs: a source-address cmsg plus a `UDP_SEGMENT` cmsg.
size_t wirenet_udp_send_cmsg_space(void);

/// Writes a source-address cmsg at the start of `control`: `IPV6_PKTINFO` for an `AF_INET6`
/// socket (IPv4 sources as `::ffff:a.b.c.d`, which the kernel accepts for IPv4 destinations of a
/// dual-stack socket), `IP_PKTINFO` with `ipi_spec_dst` for an `AF_INET` socket. `address` is 16
/// bytes, IPv4 in mapped form. Returns the bytes used, or 0 when `capacity` is too small.
size_t wirenet_udp_put_source_cmsg(void *control, size_t capacity, const uint8_t *address,
                                   uint32_t interface_index, int family);

/// Bytes of control space a receive needs for `UDP_GRO` + `IPV6_PKTINFO`/`IP_PKTINFO`.
size_t wirenet_udp_receive_cmsg_space(void);

/// Bytes of control space an error-queue read needs (`IP[V6]_RECVERR` with the offender address).
size_t wirenet_udp_error_cmsg_space(void);

// MARK: GNU extensions the Swift Glibc module does not expose (it is built without _GNU_SOURCE).

/// Same layout as glibc's `struct mmsghdr`.
struct wirenet_mmsghdr {
    struct msghdr msg_hdr;
    unsigned int msg_len;
};

/// `recvmmsg(2)`; returns -1 and sets errno on failure.
int wirenet_recvmmsg(int fd, struct wirenet_mmsghdr *messages, unsigned int count, int flags);
/// `sendmmsg(2)`; returns -1 and sets errno on failure.
int wirenet_sendmmsg(int fd, struct wirenet_mmsghdr *messages, unsigned int count, int flags);
/// `ppoll(2)` with a timeout in nanoseconds (negative: wait forever) and no signal mask.
int wirenet_ppoll(struct pollfd *fds, unsigned long count, int64_t timeout_ns);
/// `eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)`.
int wirenet_eventfd(void);
/// An epoll set (`EPOLL_CLOEXEC`) watching `fd_a` and `fd_b` for readability; -1 on failure.
int wirenet_epoll_pair(int fd_a, int fd_b);

// MARK: io_uring (liburing), kept behind these functions so that Swift never imports
// <liburing.h>: it defines _GNU_SOURCE, which clashes with the Swift Glibc module's types.

/// An io_uring instance with one provided-buffer ring (opaque).
struct wirenet_uring;

/// What `wirenet_uring_open` found missing, if anything.
enum wirenet_uring_missing {
    WIRENET_URING_OK = 0,
    /// No `IORING_FEAT_EXT_ARG` (Linux 5.11): waits could not time out without extra requests.
    WIRENET_URING_NO_EXT_ARG = 1,
    /// An opcode is missing; multishot recvmsg (Linux 6.0) is probed through `IORING_OP_SEND_ZC`
    /// (same release).
    WIRENET_URING_NO_OPCODE = 2,
};

/// Sets up a ring with `sq_entries` submission and `cq_entries` completion entries and registers
/// a provided-buffer ring of `buffer_count` (a power of two) entries as group `buffer_group`.
/// Returns NULL with `*error` set to a positive errno (`EOPNOTSUPP` when a feature is missing).
struct wirenet_uring *wirenet_uring_open(unsigned sq_entries, unsigned cq_entries, unsigned buffer_count,
                                         uint16_t buffer_group, int *error);
/// Cancels nothing, frees the ring and the buffer ring (callers cancel and drain first).
void wirenet_uring_close(struct wirenet_uring *ring);
/// The ring's file descriptor (pollable: readable when completions are waiting).
int wirenet_uring_fd(const struct wirenet_uring *ring);

/// Queues buffer `id` (`length` bytes at `address`) at position `offset` past the buffer ring's
/// tail; `wirenet_uring_buffers_publish(count)` then makes `count` queued buffers visible.
void wirenet_uring_buffer_add(struct wirenet_uring *ring, void *address, unsigned length, uint16_t id,
                              int offset);
void wirenet_uring_buffers_publish(struct wirenet_uring *ring, int count);

/// Queue requests; each returns 0, or -EBUSY when the submission queue is full (submit first).
int wirenet_uring_prep_recvmsg_multishot(struct wirenet_uring *ring, int fd, struct msghdr *header,
                                         uint16_t buffer_group, uint64_t user_data);
int wirenet_uring_prep_sendmsg(struct wirenet_uring *ring, int fd, const struct msghdr *header,
                               uint64_t user_data);
int wirenet_uring_prep_read(struct wirenet_uring *ring, int fd, void *buffer, unsigned length,
                            uint64_t user_data);
/// A multishot `IORING_OP_POLL_ADD` for `events` (`POLLIN`, ...) on `fd`: one completion (result:
/// the events seen) each time the file's wait queue is woken while they are ready, until cancelled
/// or until a completion comes without `IORING_CQE_F_MORE`.
int wirenet_uring_prep_poll_multishot(struct wirenet_uring *ring, int fd, unsigned events, uint64_t user_data);
/// Cancels every request in flight (`IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL`).
int wirenet_uring_prep_cancel_all(struct wirenet_uring *ring, uint64_t user_data);

/// Requests queued but not submitted.
unsigned wirenet_uring_pending(const struct wirenet_uring *ring);
/// `io_uring_submit`; returns submitted count or -errno.
int wirenet_uring_submit(struct wirenet_uring *ring);
/// Submits and waits for at least one completion, at most `timeout_ns` (negative: no limit).
/// Returns >= 0, or -errno (-ETIME on timeout).
int wirenet_uring_submit_and_wait(struct wirenet_uring *ring, int64_t timeout_ns);

/// One completion, copied out of the completion queue.
struct wirenet_completion {
    uint64_t user_data;
    int32_t result;
    uint32_t flags;
};

/// Copies up to `capacity` completions into `out` and consumes them. Returns the count.
unsigned wirenet_uring_reap(struct wirenet_uring *ring, struct wirenet_completion *out, unsigned capacity);

/// `IORING_CQE_F_BUFFER`, `IORING_CQE_F_MORE`, `IORING_CQE_BUFFER_SHIFT`.
extern const uint32_t wirenet_completion_has_buffer;
extern const uint32_t wirenet_completion_has_more;
extern const uint32_t wirenet_completion_buffer_shift;

/// The symbolic name of an errno value ("ECONNREFUSED"), or NULL when unknown.
const char *wirenet_errno_name(int number);

#endif
