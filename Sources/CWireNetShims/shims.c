#define _GNU_SOURCE
#include "CWireNetShims.h"

#include <errno.h>
#include <liburing.h>
#include <linux/errqueue.h>
#include <linux/udp.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103 /* include/uapi/linux/udp.h */
#endif
#ifndef UDP_GRO
#define UDP_GRO 104 /* include/uapi/linux/udp.h */
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

int wirenet_shims_version(void) { return 2; }

static void parse_one_cmsg(const struct cmsghdr *cmsg, struct wirenet_udp_cmsg_info *info) {
    const size_t data_length = cmsg->cmsg_len - CMSG_LEN(0);
    if (cmsg->cmsg_level == SOL_UDP && cmsg->cmsg_type == UDP_GRO) {
        /* udp_cmsg_recv() puts the gso_size as an int. */
        if (data_length >= sizeof(int)) {
            int size;
            memcpy(&size, CMSG_DATA(cmsg), sizeof(size));
            if (size > 0 && size <= 0xFFFF) info->gro_segment_size = (uint16_t)size;
        }
    } else if (cmsg->cmsg_level == IPPROTO_IPV6 && cmsg->cmsg_type == IPV6_PKTINFO) {
        if (data_length >= sizeof(struct in6_pktinfo)) {
            struct in6_pktinfo pi;
            memcpy(&pi, CMSG_DATA(cmsg), sizeof(pi));
            memcpy(info->local_address, &pi.ipi6_addr, 16);
            info->interface_index = (uint32_t)pi.ipi6_ifindex;
            info->has_packet_info = 1;
        }
    } else if (cmsg->cmsg_level == IPPROTO_IP && cmsg->cmsg_type == IP_PKTINFO) {
        if (data_length >= sizeof(struct in_pktinfo)) {
            struct in_pktinfo pi;
            memcpy(&pi, CMSG_DATA(cmsg), sizeof(pi));
            memset(info->local_address, 0, 10);
            info->local_address[10] = 0xFF;
            info->local_address[11] = 0xFF;
            memcpy(info->local_address + 12, &pi.ipi_addr, 4);
            info->interface_index = (uint32_t)pi.ipi_ifindex;
            info->has_packet_info = 1;
        }
    } else if ((cmsg->cmsg_level == IPPROTO_IP && cmsg->cmsg_type == IP_RECVERR) ||
               (cmsg->cmsg_level == IPPROTO_IPV6 && cmsg->cmsg_type == IPV6_RECVERR)) {
        if (data_length >= sizeof(struct sock_extended_err)) {
            struct sock_extended_err ee;
            memcpy(&ee, CMSG_DATA(cmsg), sizeof(ee));
            info->error_number = (int32_t)ee.ee_errno;
            info->error_origin = ee.ee_origin;
            info->has_error = 1;
        }
    }
}

void wirenet_udp_parse_cmsgs(const struct msghdr *msg, struct wirenet_udp_cmsg_info *info) {
    memset(info, 0, sizeof(*info));
    if (msg->msg_control == NULL || msg->msg_controllen < sizeof(struct cmsghdr)) return;
    for (struct cmsghdr *cmsg = CMSG_FIRSTHDR((struct msghdr *)msg); cmsg != NULL;
         cmsg = CMSG_NXTHDR((struct msghdr *)msg, cmsg)) {
        parse_one_cmsg(cmsg, info);
    }
}

int wirenet_uring_recvmsg_parse(void *buffer, int buffer_length, struct msghdr *msgh,
                                struct wirenet_uring_recvmsg *out) {
    memset(out, 0, sizeof(*out));
    struct io_uring_recvmsg_out *o = io_uring_recvmsg_validate(buffer, buffer_length, msgh);
    if (o == NULL) return -1;
    out->flags = o->flags;
    out->name = (const struct sockaddr *)io_uring_recvmsg_name(o);
    out->name_length = o->namelen;
    out->payload = (uint8_t *)io_uring_recvmsg_payload(o, msgh);
    out->payload_length = io_uring_recvmsg_payload_length(o, buffer_length, msgh);
    if (o->controllen > 0) {
        for (struct cmsghdr *cmsg = io_uring_recvmsg_cmsg_firsthdr(o, msgh); cmsg != NULL;
             cmsg = io_uring_recvmsg_cmsg_nexthdr(o, msgh, cmsg)) {
            parse_one_cmsg(cmsg, &out->info);
        }
    }
    return 0;
}

size_t wirenet_udp_segment_cmsg_space(void) { return CMSG_SPACE(sizeof(uint16_t)); }

size_t wirenet_udp_put_segment_cmsg(void *control, size_t capacity, uint16_t segment_size) {
    const size_t space = CMSG_SPACE(sizeof(uint16_t));
    if (capacity < space) return 0;
    memset(control, 0, space);
    struct cmsghdr *cmsg = (struct cmsghdr *)control;
    cmsg->cmsg_level = SOL_UDP;
    cmsg->cmsg_type = UDP_SEGMENT;
    cmsg->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    memcpy(CMSG_DATA(cmsg), &segment_size, sizeof(segment_size));
    return space;
}

size_t wirenet_udp_send_cmsg_space(void) {
    return CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(uint16_t));
}

size_t wirenet_udp_put_source_cmsg(void *control, size_t capacity, const uint8_t *address,
                                   uint32_t interface_index, int family) {
    struct cmsghdr *cmsg = (struct cmsghdr *)control;
    if (family == AF_INET6) {
        const size_t space = CMSG_SPACE(sizeof(struct in6_pktinfo));
        if (capacity < space) return 0;
        memset(control, 0, space);
        struct in6_pktinfo info;
        memset(&info, 0, sizeof(info));
        memcpy(&info.ipi6_addr, address, 16);
        info.ipi6_ifindex = interface_index;
        cmsg->cmsg_level = IPPROTO_IPV6;
        cmsg->cmsg_type = IPV6_PKTINFO;
        cmsg->cmsg_len = CMSG_LEN(sizeof(info));
        memcpy(CMSG_DATA(cmsg), &info, sizeof(info));
        return space;
    }
    const size_t space = CMSG_SPACE(sizeof(struct in_pktinfo));
    if (capacity < space) return 0;
    memset(control, 0, space);
    struct in_pktinfo info;
    memset(&info, 0, sizeof(info));
    memcpy(&info.ipi_spec_dst, address + 12, 4);
    info.ipi_ifindex = (int)interface_index;
    cmsg->cmsg_level = IPPROTO_IP;
    cmsg->cmsg_type = IP_PKTINFO;
    cmsg->cmsg_len = CMSG_LEN(sizeof(info));
    memcpy(CMSG_DATA(cmsg), &info, sizeof(info));
    return space;
}

size_t wirenet_udp_receive_cmsg_space(void) {
    return CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct in6_pktinfo)) +
           CMSG_SPACE(sizeof(struct in_pktinfo));
}

size_t wirenet_udp_error_cmsg_space(void) {
    return CMSG_SPACE(sizeof(struct sock_extended_err) + sizeof(struct sockaddr_in6)) +
           CMSG_SPACE(sizeof(struct in6_pktinfo));
}

const char *wirenet_errno_name(int number) { return strerrorname_np(number); }

int wirenet_recvmmsg(int fd, struct wirenet_mmsghdr *messages, unsigned int count, int flags) {
    _Static_assert(sizeof(struct wirenet_mmsghdr) == sizeof(struct mmsghdr), "mmsghdr layout");
    return recvmmsg(fd, (struct mmsghdr *)messages, count, flags, NULL);
}

int wirenet_sendmmsg(int fd, struct wirenet_mmsghdr *messages, unsigned int count, int flags) {
    return sendmmsg(fd, (struct mmsghdr *)messages, count, flags);
}

int wirenet_ppoll(struct pollfd *fds, unsigned long count, int64_t timeout_ns) {
    if (timeout_ns < 0) return ppoll(fds, count, NULL, NULL);
    struct timespec ts = {.tv_sec = timeout_ns / 1000000000, .tv_nsec = timeout_ns % 1000000000};
    return ppoll(fds, count, &ts, NULL);
}

int wirenet_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

int wirenet_epoll_pair(int fd_a, int fd_b) {
    int epoll = epoll_create1(EPOLL_CLOEXEC);
    if (epoll < 0) return -1;
    int fds[2] = {fd_a, fd_b};
    for (int i = 0; i < 2; i++) {
        struct epoll_event event = {.events = EPOLLIN, .data.fd = fds[i]};
        if (epoll_ctl(epoll, EPOLL_CTL_ADD, fds[i], &event) != 0) {
            int saved = errno;
            close(epoll);
            errno = saved;
            return -1;
        }
    }
    return epoll;
}

// MARK: io_uring

struct wirenet_uring {
    struct io_uring ring;
    struct io_uring_buf_ring *buffers;
    size_t buffers_bytes;
    int buffers_mask;
    uint16_t buffer_group;
};

const uint32_t wirenet_completion_has_buffer = IORING_CQE_F_BUFFER;
const uint32_t wirenet_completion_has_more = IORING_CQE_F_MORE;
const uint32_t wirenet_completion_buffer_shift = IORING_CQE_BUFFER_SHIFT;

struct wirenet_uring *wirenet_uring_open(unsigned sq_entries, unsigned cq_entries, unsigned buffer_count,
                                         uint16_t buffer_group, int *error) {
    struct wirenet_uring *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        *error = ENOMEM;
        return NULL;
    }
    struct io_uring_params params;
    memset(&params, 0, sizeof(params));
    params.flags = IORING_SETUP_CQSIZE;
    params.cq_entries = cq_entries;
    int result = io_uring_queue_init_params(sq_entries, &r->ring, &params);
    if (result < 0) {
        free(r);
        *error = -result;
        return NULL;
    }
    int missing = (params.features & IORING_FEAT_EXT_ARG) ? WIRENET_URING_OK : WIRENET_URING_NO_EXT_ARG;
    struct io_uring_probe *probe = io_uring_get_probe_ring(&r->ring);
    if (probe == NULL) {
        missing = WIRENET_URING_NO_OPCODE;
    } else {
        const int ops[] = {IORING_OP_RECVMSG, IORING_OP_SENDMSG, IORING_OP_READ, IORING_OP_ASYNC_CANCEL,
                           IORING_OP_POLL_ADD, IORING_OP_SEND_ZC};
        for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
            if (!io_uring_opcode_supported(probe, ops[i])) missing = WIRENET_URING_NO_OPCODE;
        }
        io_uring_free_probe(probe);
    }
    if (missing != WIRENET_URING_OK) {
        io_uring_queue_exit(&r->ring);
        free(r);
        *error = EOPNOTSUPP;
        return NULL;
    }
    // liburing 2.3 has io_uring_register_buf_ring but not io_uring_setup_buf_ring: map the
    // page-aligned ring memory here and register it.
    long page = sysconf(_SC_PAGESIZE);
    r->buffers_bytes = ((buffer_count * sizeof(struct io_uring_buf)) + page - 1) / page * page;
    void *mapped = mmap(NULL, r->buffers_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mapped == MAP_FAILED) {
        *error = errno;
        io_uring_queue_exit(&r->ring);
        free(r);
        return NULL;
    }
    r->buffers = mapped;
    struct io_uring_buf_reg registration;
    memset(&registration, 0, sizeof(registration));
    registration.ring_addr = (uint64_t)(uintptr_t)mapped;
    registration.ring_entries = buffer_count;
    registration.bgid = buffer_group;
    result = io_uring_register_buf_ring(&r->ring, &registration, 0);
    if (result < 0) {
        *error = -result;
        munmap(mapped, r->buffers_bytes);
        io_uring_queue_exit(&r->ring);
        free(r);
        return NULL;
    }
    io_uring_buf_ring_init(r->buffers);
    r->buffers_mask = io_uring_buf_ring_mask(buffer_count);
    r->buffer_group = buffer_group;
    return r;
}

void wirenet_uring_close(struct wirenet_uring *r) {
    io_uring_unregister_buf_ring(&r->ring, r->buffer_group);
    io_uring_queue_exit(&r->ring);
    munmap(r->buffers, r->buffers_bytes);
    free(r);
}

int wirenet_uring_fd(const struct wirenet_uring *r) { return r->ring.ring_fd; }

void wirenet_uring_buffer_add(struct wirenet_uring *r, void *address, unsigned length, uint16_t id, int offset) {
    io_uring_buf_ring_add(r->buffers, address, length, id, r->buffers_mask, offset);
}

void wirenet_uring_buffers_publish(struct wirenet_uring *r, int count) {
    io_uring_buf_ring_advance(r->buffers, count);
}

int wirenet_uring_prep_recvmsg_multishot(struct wirenet_uring *r, int fd, struct msghdr *header,
                                         uint16_t buffer_group, uint64_t user_data) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    if (sqe == NULL) return -EBUSY;
    io_uring_prep_recvmsg_multishot(sqe, fd, header, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = buffer_group;
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

int wirenet_uring_prep_sendmsg(struct wirenet_uring *r, int fd, const struct msghdr *header, uint64_t user_data) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    if (sqe == NULL) return -EBUSY;
    io_uring_prep_sendmsg(sqe, fd, header, 0);
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

int wirenet_uring_prep_read(struct wirenet_uring *r, int fd, void *buffer, unsigned length, uint64_t user_data) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    if (sqe == NULL) return -EBUSY;
    io_uring_prep_read(sqe, fd, buffer, length, 0);
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

int wirenet_uring_prep_poll_multishot(struct wirenet_uring *r, int fd, unsigned events, uint64_t user_data) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    if (sqe == NULL) return -EBUSY;
    io_uring_prep_poll_multishot(sqe, fd, events);
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

int wirenet_uring_prep_cancel_all(struct wirenet_uring *r, uint64_t user_data) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    if (sqe == NULL) return -EBUSY;
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

unsigned wirenet_uring_pending(const struct wirenet_uring *r) { return io_uring_sq_ready(&r->ring); }

int wirenet_uring_submit(struct wirenet_uring *r) { return io_uring_submit(&r->ring); }

int wirenet_uring_submit_and_wait(struct wirenet_uring *r, int64_t timeout_ns) {
    if (timeout_ns < 0) return io_uring_submit_and_wait(&r->ring, 1);
    struct __kernel_timespec ts = {.tv_sec = timeout_ns / 1000000000, .tv_nsec = timeout_ns % 1000000000};
    struct io_uring_cqe *cqe = NULL;
    return io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, &ts, NULL);
}

unsigned wirenet_uring_reap(struct wirenet_uring *r, struct wirenet_completion *out, unsigned capacity) {
    unsigned head;
    unsigned count = 0;
    struct io_uring_cqe *cqe;
    io_uring_for_each_cqe(&r->ring, head, cqe) {
        if (count == capacity) break;
        out[count].user_data = cqe->user_data;
        out[count].result = cqe->res;
        out[count].flags = cqe->flags;
        count++;
    }
    io_uring_cq_advance(&r->ring, count);
    if (count == 0 && (IO_URING_READ_ONCE(*r->ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW)) {
        // Completions the kernel could not post: have it flush them, then take them.
        io_uring_get_events(&r->ring);
        io_uring_for_each_cqe(&r->ring, head, cqe) {
            if (count == capacity) break;
            out[count].user_data = cqe->user_data;
            out[count].result = cqe->res;
            out[count].flags = cqe->flags;
            count++;
        }
        io_uring_cq_advance(&r->ring, count);
    }
    return count;
}
