// Plain C reference for the UDPTransport benchmark: one sender thread and one receiver thread
// on loopback, sendmmsg/recvmmsg batches of 64 datagrams (no GSO/GRO unless -o is given).
// Prints one line: name, datagrams received, datagrams/s, Gbit/s (payload), loss, CPU ns/datagram.
//
// Build: cc -O2 -pthread -o udp-reference udp-reference.c
// Run:   ./udp-reference -s 1200 -n 2000000 [-o]   (-o: UDP_SEGMENT sends, UDP_GRO receives)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

enum { BATCH = 64, GRO_BUFFER = 65536 };

static int size = 1200;
static long count = 1000000;
static int offload = 0;
static int receiver_fd;
static struct sockaddr_in receiver_address;
static atomic_long received;
static atomic_long received_bytes;
static atomic_int sender_done;
static struct timespec last_receive;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_seconds(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
           usage.ru_stime.tv_usec / 1e6;
}

static void *receive_loop(void *unused) {
    (void)unused;
    const int buffer_size = offload ? GRO_BUFFER : 2048;
    char *buffers = malloc((size_t)BATCH * buffer_size);
    struct mmsghdr messages[BATCH];
    struct iovec iovecs[BATCH];
    char control[BATCH][64];
    for (;;) {
        for (int i = 0; i < BATCH; i++) {
            iovecs[i] = (struct iovec){buffers + (size_t)i * buffer_size, buffer_size};
            memset(&messages[i], 0, sizeof(messages[i]));
            messages[i].msg_hdr.msg_iov = &iovecs[i];
            messages[i].msg_hdr.msg_iovlen = 1;
            messages[i].msg_hdr.msg_control = control[i];
            messages[i].msg_hdr.msg_controllen = sizeof(control[i]);
        }
        int n = recvmmsg(receiver_fd, messages, BATCH, MSG_DONTWAIT, NULL);
        if (n < 0) {
            if (errno != EAGAIN) break;
            if (atomic_load(&sender_done)) {
                // Stop after 200 ms without data once the sender has finished.
                struct pollfd p = {receiver_fd, POLLIN, 0};
                if (poll(&p, 1, 200) == 0) break;
            } else {
                struct pollfd p = {receiver_fd, POLLIN, 0};
                poll(&p, 1, 50);
            }
            continue;
        }
        long datagrams = 0, bytes = 0;
        for (int i = 0; i < n; i++) {
            int segment = 0;
            for (struct cmsghdr *c = CMSG_FIRSTHDR(&messages[i].msg_hdr); c; c = CMSG_NXTHDR(&messages[i].msg_hdr, c)) {
                if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) memcpy(&segment, CMSG_DATA(c), sizeof(int));
            }
            long length = messages[i].msg_len;
            datagrams += segment > 0 ? (length + segment - 1) / segment : 1;
            bytes += length;
        }
        atomic_fetch_add(&received, datagrams);
        atomic_fetch_add(&received_bytes, bytes);
        clock_gettime(CLOCK_MONOTONIC, &last_receive);
    }
    free(buffers);
    return NULL;
}

int main(int argc, char **argv) {
    int option;
    while ((option = getopt(argc, argv, "s:n:o")) != -1) {
        if (option == 's') size = atoi(optarg);
        else if (option == 'n') count = atol(optarg);
        else if (option == 'o') offload = 1;
        else {
            fprintf(stderr, "usage: %s [-s size] [-n count] [-o]\n", argv[0]);
            return 2;
        }
    }
    receiver_fd = socket(AF_INET, SOCK_DGRAM, 0);
    int sender_fd = socket(AF_INET, SOCK_DGRAM, 0);
    int buffer = 4 << 20;
    for (int i = 0; i < 2; i++) {
        int fd = i ? sender_fd : receiver_fd;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buffer, sizeof(buffer)) != 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof(buffer));
        if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buffer, sizeof(buffer)) != 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof(buffer));
    }
    if (offload) {
        int one = 1;
        setsockopt(receiver_fd, SOL_UDP, UDP_GRO, &one, sizeof(one));
    }
    receiver_address.sin_family = AF_INET;
    receiver_address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(receiver_address);
    if (bind(receiver_fd, (struct sockaddr *)&receiver_address, length) != 0 ||
        getsockname(receiver_fd, (struct sockaddr *)&receiver_address, &length) != 0) {
        perror("bind");
        return 1;
    }

    char *payloads = malloc((size_t)BATCH * size);
    for (int i = 0; i < BATCH * size; i++) payloads[i] = (char)(i * 31 + 1);
    struct mmsghdr messages[BATCH];
    struct iovec iovecs[BATCH];
    for (int i = 0; i < BATCH; i++) {
        iovecs[i] = (struct iovec){payloads + (size_t)i * size, (size_t)size};
        memset(&messages[i], 0, sizeof(messages[i]));
        messages[i].msg_hdr.msg_name = &receiver_address;
        messages[i].msg_hdr.msg_namelen = sizeof(receiver_address);
        messages[i].msg_hdr.msg_iov = &iovecs[i];
        messages[i].msg_hdr.msg_iovlen = 1;
    }
    // With -o: one sendmsg of BATCH segments (contiguous payloads, one iovec).
    // Segments per super-datagram: at most BATCH and at most 65507 payload bytes (IPv4 limit).
    int segments = 65507 / size < BATCH ? 65507 / size : BATCH;
    struct iovec whole = {payloads, (size_t)segments * size};
    char control[CMSG_SPACE(sizeof(uint16_t))];
    struct msghdr segmented = {.msg_name = &receiver_address, .msg_namelen = sizeof(receiver_address),
                               .msg_iov = &whole, .msg_iovlen = 1, .msg_control = control,
                               .msg_controllen = sizeof(control)};
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&segmented);
    cmsg->cmsg_level = SOL_UDP;
    cmsg->cmsg_type = UDP_SEGMENT;
    cmsg->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    uint16_t segment_size = (uint16_t)size;
    memcpy(CMSG_DATA(cmsg), &segment_size, sizeof(segment_size));

    pthread_t thread;
    pthread_create(&thread, NULL, receive_loop, NULL);
    double cpu_start = cpu_seconds();
    double start = now();
    long sent = 0;
    while (sent < count) {
        if (offload) {
            if (sendmsg(sender_fd, &segmented, 0) < 0) { perror("sendmsg"); return 1; }
            sent += segments;
        } else {
            int n = sendmmsg(sender_fd, messages, BATCH, 0);
            if (n < 0) { perror("sendmmsg"); return 1; }
            sent += n;
        }
    }
    atomic_store(&sender_done, 1);
    pthread_join(thread, NULL);
    double elapsed = last_receive.tv_sec + last_receive.tv_nsec / 1e9 - start;
    double cpu = cpu_seconds() - cpu_start;
    long got = atomic_load(&received);
    printf("%-28s %10ld %12.0f %8.2f %6.1f%% %10.0f\n", offload ? "C sendmsg+GSO/recvmmsg+GRO" : "C sendmmsg/recvmmsg", got,
           got / elapsed, atomic_load(&received_bytes) * 8 / elapsed / 1e9, 100.0 * (sent - got) / sent,
           got ? cpu * 1e9 / got : 0);
    return 0;
}
