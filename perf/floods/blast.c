// Sends prepared datagrams as fast as one thread can, with sendmmsg, for perf/floods/flood.py
// (`--sender c`): flood.py builds the datagrams (and answers a cookie for init-mac2), writes them to
// a file and execs this program on its own socket, so the source address stays the one the cookie
// was made for. Measurement only.
//
//   blast FD HOST PORT SECONDS FILE     FILE: datagrams, each a 2-byte little-endian length + bytes
// Prints one line: `sent N datagrams in S s (R/s)`, as flood.py does.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

enum { most = 256, burst = 64 };
static volatile sig_atomic_t running = 1;
static void stop(int signal) { (void)signal; running = 0; }

static double seconds_now(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec + now.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: blast FD HOST PORT SECONDS FILE\n"); return 2; }
    int fd = atoi(argv[1]);
    struct sockaddr_in target = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3])) };
    if (inet_pton(AF_INET, argv[2], &target.sin_addr) != 1) { fprintf(stderr, "blast: bad host\n"); return 2; }
    double seconds = atof(argv[4]);
    FILE *file = fopen(argv[5], "rb");
    if (!file) { perror("blast: datagram file"); return 1; }
    static unsigned char data[most][2048];
    static struct iovec vectors[most];
    int count = 0;
    unsigned char header[2];
    while (count < most && fread(header, 1, 2, file) == 2) {
        size_t length = header[0] | header[1] << 8;
        if (length > sizeof data[0] || fread(data[count], 1, length, file) != length) break;
        vectors[count].iov_base = data[count];
        vectors[count].iov_len = length;
        count++;
    }
    fclose(file);
    if (count == 0) { fprintf(stderr, "blast: no datagrams\n"); return 1; }
    signal(SIGINT, stop);
    signal(SIGTERM, stop);
    // The socket is flood.py's, non-blocking: a full send buffer costs a retry, not a wait.
    static struct mmsghdr messages[burst];
    unsigned long long sent = 0;
    double start = seconds_now(), end = start + seconds;
    int next = 0;
    while (running) {
        for (int i = 0; i < burst; i++) {
            messages[i].msg_hdr = (struct msghdr){ .msg_name = &target, .msg_namelen = sizeof target,
                                                   .msg_iov = &vectors[(next + i) % count], .msg_iovlen = 1 };
        }
        int done = sendmmsg(fd, messages, burst, 0);
        if (done > 0) { sent += done; next = (next + done) % count; }
        else if (done < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNREFUSED) {
            perror("blast: sendmmsg");
            return 1;
        }
        if (seconds_now() >= end) break;
    }
    double elapsed = seconds_now() - start;
    printf("sent %llu datagrams in %.1f s (%.0f/s) [C, sendmmsg]\n", sent, elapsed, sent / elapsed);
    return 0;
}
