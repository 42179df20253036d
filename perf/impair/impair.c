// impair: a userspace UDP relay that impairs a WireGuard path by a seeded schedule (this kernel has
// no netem). It sits between two endpoints A and B:
//
//   A ──▶ relay:PORT_A ──(impair)──▶ B        B ──▶ relay:PORT_B ──(impair)──▶ A
//
// A's peer endpoint is relay:PORT_A, B's is relay:PORT_B; each side sees the relay as its peer. Every
// datagram, in each direction, draws from its own seeded generator (SplitMix64): dropped with
// probability LOSS, otherwise held DELAY µs (DELAY + REORDER_DELAY µs with probability REORDER, so
// later datagrams overtake it), and sent twice with probability DUP. The same seed and traffic give
// the same schedule.
//
//   impair -a PORT_A -b PORT_B -A HOST:PORT -B HOST:PORT [-l LOSS] [-d DUP] [-r REORDER]
//          [-D DELAY_US] [-R REORDER_DELAY_US] [-s SEED]
//
// Statistics go to stderr on SIGTERM/SIGINT (one JSON line).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { MAX_DATAGRAM = 65536, QUEUE_SLOTS = 65536, BATCH = 64 };

struct held {
    uint64_t release_ns;
    uint32_t length;
    uint8_t *bytes;
};

// A FIFO of held datagrams; release times are non-decreasing because each queue adds a constant delay.
struct queue {
    struct held slots[QUEUE_SLOTS];
    size_t head, count;
};

struct direction {
    int in_fd, out_fd;                 // receive on in_fd, send from out_fd
    struct sockaddr_in to;
    uint64_t rng;
    struct queue normal, late;
    uint64_t received, dropped, duplicated, reordered, sent, overflow;
};

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static uint64_t splitmix(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int chance(uint64_t *state, double p) {
    if (p <= 0) return 0;
    return (double)(splitmix(state) >> 11) * 0x1.0p-53 < p;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int parse_endpoint(const char *text, struct sockaddr_in *out) {
    char host[64];
    const char *colon = strrchr(text, ':');
    if (!colon || (size_t)(colon - text) >= sizeof host) return -1;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = 0;
    memset(out, 0, sizeof *out);
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)atoi(colon + 1));
    return inet_pton(AF_INET, host, &out->sin_addr) == 1 ? 0 : -1;
}

static int bind_udp(uint16_t port) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    int size = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) return -1;
    return fd;
}

static void push(struct direction *d, struct queue *q, const uint8_t *bytes, uint32_t length, uint64_t release) {
    if (q->count == QUEUE_SLOTS) { d->overflow++; return; }
    struct held *h = &q->slots[(q->head + q->count) % QUEUE_SLOTS];
    if (!h->bytes) h->bytes = malloc(MAX_DATAGRAM);
    memcpy(h->bytes, bytes, length);
    h->length = length;
    h->release_ns = release;
    q->count++;
}

static void release_due(struct direction *d, struct queue *q, uint64_t now) {
    while (q->count > 0) {
        struct held *h = &q->slots[q->head];
        if (h->release_ns > now) break;
        if (sendto(d->out_fd, h->bytes, h->length, 0, (struct sockaddr *)&d->to, sizeof d->to) >= 0) d->sent++;
        q->head = (q->head + 1) % QUEUE_SLOTS;
        q->count--;
    }
}

static uint64_t earliest(const struct queue *q, uint64_t current) {
    if (q->count == 0) return current;
    uint64_t t = q->slots[q->head].release_ns;
    return t < current ? t : current;
}

int main(int argc, char **argv) {
    int port_a = 0, port_b = 0, opt;
    const char *to_a = NULL, *to_b = NULL;
    double loss = 0, dup = 0, reorder = 0;
    uint64_t delay_us = 0, reorder_delay_us = 2000, seed = 1;
    while ((opt = getopt(argc, argv, "a:b:A:B:l:d:r:D:R:s:")) != -1) {
        switch (opt) {
        case 'a': port_a = atoi(optarg); break;
        case 'b': port_b = atoi(optarg); break;
        case 'A': to_a = optarg; break;
        case 'B': to_b = optarg; break;
        case 'l': loss = atof(optarg); break;
        case 'd': dup = atof(optarg); break;
        case 'r': reorder = atof(optarg); break;
        case 'D': delay_us = strtoull(optarg, NULL, 10); break;
        case 'R': reorder_delay_us = strtoull(optarg, NULL, 10); break;
        case 's': seed = strtoull(optarg, NULL, 10); break;
        default: goto usage;
        }
    }
    if (!port_a || !port_b || !to_a || !to_b || loss < 0 || loss > 1 || dup < 0 || dup > 1 || reorder < 0 || reorder > 1) {
    usage:
        fprintf(stderr, "usage: impair -a PORT_A -b PORT_B -A HOST:PORT -B HOST:PORT [-l LOSS] [-d DUP] [-r REORDER] "
                        "[-D DELAY_US] [-R REORDER_DELAY_US] [-s SEED]\n");
        return 2;
    }
    static struct direction ab, ba;  // A→B and B→A
    int fd_a = bind_udp((uint16_t)port_a), fd_b = bind_udp((uint16_t)port_b);
    if (fd_a < 0 || fd_b < 0) { perror("impair: bind"); return 1; }
    ab.in_fd = fd_a; ab.out_fd = fd_b;
    ba.in_fd = fd_b; ba.out_fd = fd_a;
    if (parse_endpoint(to_b, &ab.to) < 0 || parse_endpoint(to_a, &ba.to) < 0) { fprintf(stderr, "impair: bad HOST:PORT\n"); return 2; }
    ab.rng = seed * 2 + 1;
    ba.rng = seed * 2 + 2;
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    fprintf(stderr, "impair: relaying :%d -> %s and :%d -> %s, loss %.4f dup %.4f reorder %.4f delay %lu us (+%lu us reordered), seed %lu\n",
            port_a, to_b, port_b, to_a, loss, dup, reorder, (unsigned long)delay_us, (unsigned long)reorder_delay_us, (unsigned long)seed);

    static uint8_t buffer[MAX_DATAGRAM];
    struct pollfd fds[2] = {{.fd = fd_a, .events = POLLIN}, {.fd = fd_b, .events = POLLIN}};
    struct direction *dirs[2] = {&ab, &ba};
    while (!stop) {
        uint64_t now = now_ns();
        uint64_t next = UINT64_MAX;
        for (int i = 0; i < 2; i++) {
            release_due(dirs[i], &dirs[i]->normal, now);
            release_due(dirs[i], &dirs[i]->late, now);
            next = earliest(&dirs[i]->normal, next);
            next = earliest(&dirs[i]->late, next);
        }
        int timeout = -1;
        if (next != UINT64_MAX) timeout = next > now ? (int)((next - now + 999999) / 1000000) : 0;
        if (timeout > 0 && next - now < 1000000) timeout = 0;  // sub-millisecond: spin once more
        int ready = poll(fds, 2, timeout);
        if (ready < 0 && errno != EINTR) { perror("impair: poll"); break; }
        for (int i = 0; i < 2; i++) {
            if (!(fds[i].revents & POLLIN)) continue;
            struct direction *d = dirs[i];
            for (int n = 0; n < BATCH; n++) {
                ssize_t len = recv(d->in_fd, buffer, sizeof buffer, 0);
                if (len < 0) break;
                d->received++;
                if (chance(&d->rng, loss)) { d->dropped++; continue; }
                int late = chance(&d->rng, reorder);
                int twice = chance(&d->rng, dup);
                uint64_t t = now_ns();
                uint64_t release = t + delay_us * 1000;
                if (late) {
                    d->reordered++;
                    push(d, &d->late, buffer, (uint32_t)len, release + reorder_delay_us * 1000);
                } else if (delay_us == 0) {
                    if (sendto(d->out_fd, buffer, (size_t)len, 0, (struct sockaddr *)&d->to, sizeof d->to) >= 0) d->sent++;
                } else {
                    push(d, &d->normal, buffer, (uint32_t)len, release);
                }
                if (twice) {
                    d->duplicated++;
                    if (sendto(d->out_fd, buffer, (size_t)len, 0, (struct sockaddr *)&d->to, sizeof d->to) >= 0) d->sent++;
                }
            }
        }
    }
    fprintf(stderr, "{\"a_to_b\":{\"received\":%lu,\"dropped\":%lu,\"duplicated\":%lu,\"reordered\":%lu,\"sent\":%lu,\"overflow\":%lu},"
                    "\"b_to_a\":{\"received\":%lu,\"dropped\":%lu,\"duplicated\":%lu,\"reordered\":%lu,\"sent\":%lu,\"overflow\":%lu}}\n",
            (unsigned long)ab.received, (unsigned long)ab.dropped, (unsigned long)ab.duplicated, (unsigned long)ab.reordered,
            (unsigned long)ab.sent, (unsigned long)ab.overflow, (unsigned long)ba.received, (unsigned long)ba.dropped,
            (unsigned long)ba.duplicated, (unsigned long)ba.reordered, (unsigned long)ba.sent, (unsigned long)ba.overflow);
    return 0;
}
