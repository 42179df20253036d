#define _GNU_SOURCE
#include "wirenet_system.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <net/if.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

int wirenet_tun_open(const char *name, char actual_name[16]) {
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct ifreq request;
    memset(&request, 0, sizeof request);
    request.ifr_flags = IFF_TUN | IFF_NO_PI;
    if (name) strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &request) < 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    memcpy(actual_name, request.ifr_name, IFNAMSIZ);
    actual_name[IFNAMSIZ - 1] = 0;
    return fd;
}

void wirenet_set_thread_name(const char *name) {
    char shortened[16];
    strncpy(shortened, name, sizeof shortened - 1);
    shortened[sizeof shortened - 1] = 0;
    prctl(PR_SET_NAME, shortened, 0, 0, 0);
}

void wirenet_get_thread_name(char name[16]) {
    name[0] = 0;
    prctl(PR_GET_NAME, name, 0, 0, 0);
    name[15] = 0;
}

int wirenet_accept_nonblocking(int fd, void *address, uint32_t *length) {
    socklen_t size = *length;
    int accepted = accept4(fd, (struct sockaddr *)address, &size, SOCK_NONBLOCK | SOCK_CLOEXEC);
    *length = size;
    return accepted;
}

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/// The kernel's `struct in6_ifreq` (linux/ipv6.h), declared here because that header clashes with
/// glibc's netinet/in.h.
struct wirenet_in6_ifreq {
    struct in6_addr ifr6_addr;
    uint32_t ifr6_prefixlen;
    int ifr6_ifindex;
};

static int interface_ioctl(int family, unsigned long request, void *argument) {
    int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int result = ioctl(fd, request, argument) < 0 ? -errno : 0;
    close(fd);
    return result;
}

int wirenet_interface_up(const char *name, int mtu) {
    struct ifreq request;
    memset(&request, 0, sizeof request);
    strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    request.ifr_mtu = mtu;
    int result = interface_ioctl(AF_INET, SIOCSIFMTU, &request);
    if (result < 0) return result;
    memset(&request, 0, sizeof request);
    strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    result = interface_ioctl(AF_INET, SIOCGIFFLAGS, &request);
    if (result < 0) return result;
    request.ifr_flags |= IFF_UP | IFF_RUNNING;
    return interface_ioctl(AF_INET, SIOCSIFFLAGS, &request);
}

int wirenet_interface_add_ipv4(const char *name, uint32_t address, int prefix_length) {
    if (prefix_length < 0 || prefix_length > 32) return -EINVAL;
    struct ifreq request;
    memset(&request, 0, sizeof request);
    strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    struct sockaddr_in *sin = (struct sockaddr_in *)&request.ifr_addr;
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = address;
    int result = interface_ioctl(AF_INET, SIOCSIFADDR, &request);
    if (result < 0) return result;
    sin->sin_addr.s_addr = prefix_length == 0 ? 0 : htonl(0xFFFFFFFFu << (32 - prefix_length));
    return interface_ioctl(AF_INET, SIOCSIFNETMASK, &request);
}

int wirenet_interface_add_ipv6(const char *name, const uint8_t address[16], int prefix_length) {
    if (prefix_length < 0 || prefix_length > 128) return -EINVAL;
    unsigned int index = if_nametoindex(name);
    if (index == 0) return -errno;
    struct wirenet_in6_ifreq request;
    memset(&request, 0, sizeof request);
    memcpy(&request.ifr6_addr, address, 16);
    request.ifr6_prefixlen = (uint32_t)prefix_length;
    request.ifr6_ifindex = (int)index;
    return interface_ioctl(AF_INET6, SIOCSIFADDR, &request);
}

// The inbound filter's program, instruction by instruction (its labels are the array indices).
enum {
    STEP_TYPE, STEP_IS_TRANSPORT, STEP_IS_INITIATION, STEP_IS_RESPONSE, STEP_IS_COOKIE_REPLY, STEP_IS_DISCO,
    STEP_STUN, STEP_STUN_LENGTH, STEP_STUN_COOKIE, STEP_STUN_COOKIE_CHECK, STEP_STUN_FIRST_BYTE, STEP_STUN_TOP_BITS,
    STEP_TRANSPORT, STEP_TRANSPORT_LENGTH,
    STEP_COOKIE_REPLY, STEP_COOKIE_REPLY_LENGTH,
    STEP_DISCO, STEP_DISCO_LENGTH, STEP_DISCO_MAGIC_TAIL, STEP_DISCO_MAGIC_TAIL_CHECK,
    STEP_INITIATION, STEP_INITIATION_TO_SAMPLE,
    STEP_RESPONSE,
    STEP_SAMPLE, STEP_SAMPLE_MODULO, STEP_SAMPLE_CHECK, STEP_HANDSHAKE_LENGTH, STEP_HANDSHAKE_LENGTH_CHECK,
    STEP_ACCEPT, STEP_REJECT, STEP_DROP,
    STEP_COUNT
};

/// The jump offset from the instruction at `from` to the one at `to` (classic BPF counts from the
/// next instruction).
#define WIRENET_JUMP(to, from) ((uint8_t)((to) - (from) - 1))

// Offsets and sizes. The filter of a UDP socket sees the datagram from its UDP header on
// (udp_queue_rcv_one_skb: sk_filter_trim_cap after the IP header is pulled); its length is the UDP
// header's 8 bytes plus the payload.
enum {
    UDP_HEADER = 8,
    // WireGuard (paper §5.4.2-§5.4.6; wireguard-go MessageInitiationSize etc.): the type is a
    // little-endian u32, which BPF loads in network order: 1 → 0x01000000.
    WG_INITIATION_SIZE = 148,
    WG_RESPONSE_SIZE = 92,
    WG_COOKIE_REPLY_SIZE = 64,
    WG_TRANSPORT_MINIMUM = 32,  // header 16 + tag 16: a keepalive
    // Disco (tailscale disco.go): magic "TS💬" (54 53 F0 9F 92 AC), sender key 32, nonce 24, and
    // at least the box's 16-byte tag (Relay's DiscoPacket refuses anything shorter).
    DISCO_MINIMUM = 6 + 32 + 24 + 16,
    // STUN (RFC 5389 §6): a 20-byte header, the first two bits 0, the magic cookie at offset 4.
    STUN_HEADER = 20,
};

int wirenet_attach_inbound_filter(int fd, bool drop_foreign, bool exact_handshake_lengths, uint32_t handshake_one_in) {
    if (handshake_one_in == 1) return -EINVAL;
    bool sampling = handshake_one_in >= 2;
    // Handshake messages have one size each; but with UDP GRO the kernel may hand the socket a
    // super-datagram of several segments of one flow (the first decides the type, the last may be
    // shorter), whose length is their sum: then a handshake message only needs its size at least.
    uint16_t handshake_compare = exact_handshake_lengths ? BPF_JEQ : BPF_JGE;
    uint32_t reject = drop_foreign ? 0 : 0xFFFFFFFFu;
    struct sock_filter code[STEP_COUNT] = {
        // A datagram with under 4 bytes of payload (too short for the load) is dropped: no
        // receiver accepts one.
        [STEP_TYPE] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, UDP_HEADER),
        [STEP_IS_TRANSPORT] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x04000000u, WIRENET_JUMP(STEP_TRANSPORT, STEP_IS_TRANSPORT), 0),
        [STEP_IS_INITIATION] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x01000000u, WIRENET_JUMP(STEP_INITIATION, STEP_IS_INITIATION), 0),
        [STEP_IS_RESPONSE] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x02000000u, WIRENET_JUMP(STEP_RESPONSE, STEP_IS_RESPONSE), 0),
        [STEP_IS_COOKIE_REPLY] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x03000000u, WIRENET_JUMP(STEP_COOKIE_REPLY, STEP_IS_COOKIE_REPLY), 0),
        [STEP_IS_DISCO] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x5453F09Fu, WIRENET_JUMP(STEP_DISCO, STEP_IS_DISCO), 0),

        // Else STUN, or foreign.
        [STEP_STUN] = BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
        [STEP_STUN_LENGTH] = BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, UDP_HEADER + STUN_HEADER, 0, WIRENET_JUMP(STEP_REJECT, STEP_STUN_LENGTH)),
        [STEP_STUN_COOKIE] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, UDP_HEADER + 4),
        [STEP_STUN_COOKIE_CHECK] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x2112A442u, 0, WIRENET_JUMP(STEP_REJECT, STEP_STUN_COOKIE_CHECK)),
        [STEP_STUN_FIRST_BYTE] = BPF_STMT(BPF_LD | BPF_B | BPF_ABS, UDP_HEADER),
        [STEP_STUN_TOP_BITS] = BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0xC0, WIRENET_JUMP(STEP_REJECT, STEP_STUN_TOP_BITS),
                                     WIRENET_JUMP(STEP_ACCEPT, STEP_STUN_TOP_BITS)),

        // Transport data: any length from a keepalive on. Not a multiple of 16 beyond that: the
        // sender pads the plaintext to one but never past its MTU (wireguard-go
        // calculatePaddingSize, the kernel's calculate_skb_padding), and the MTU is the peer's choice.
        [STEP_TRANSPORT] = BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
        [STEP_TRANSPORT_LENGTH] = BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, UDP_HEADER + WG_TRANSPORT_MINIMUM,
                                        WIRENET_JUMP(STEP_ACCEPT, STEP_TRANSPORT_LENGTH), WIRENET_JUMP(STEP_REJECT, STEP_TRANSPORT_LENGTH)),

        [STEP_COOKIE_REPLY] = BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
        [STEP_COOKIE_REPLY_LENGTH] = BPF_JUMP(BPF_JMP | handshake_compare | BPF_K, UDP_HEADER + WG_COOKIE_REPLY_SIZE,
                                           WIRENET_JUMP(STEP_ACCEPT, STEP_COOKIE_REPLY_LENGTH), WIRENET_JUMP(STEP_REJECT, STEP_COOKIE_REPLY_LENGTH)),

        // Disco: the first four bytes of the magic matched; the length, then its last two bytes.
        [STEP_DISCO] = BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
        [STEP_DISCO_LENGTH] = BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, UDP_HEADER + DISCO_MINIMUM, 0, WIRENET_JUMP(STEP_REJECT, STEP_DISCO_LENGTH)),
        [STEP_DISCO_MAGIC_TAIL] = BPF_STMT(BPF_LD | BPF_H | BPF_ABS, UDP_HEADER + 4),
        [STEP_DISCO_MAGIC_TAIL_CHECK] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x92AC, WIRENET_JUMP(STEP_ACCEPT, STEP_DISCO_MAGIC_TAIL_CHECK),
                                              WIRENET_JUMP(STEP_REJECT, STEP_DISCO_MAGIC_TAIL_CHECK)),

        // Initiations and responses: sampled first (one in N pass at random, SKF_AD_RANDOM; without
        // sampling A = 0 % 1 passes all), then their length checked against X.
        [STEP_INITIATION] = BPF_STMT(BPF_LDX | BPF_W | BPF_IMM, UDP_HEADER + WG_INITIATION_SIZE),
        [STEP_INITIATION_TO_SAMPLE] = BPF_JUMP(BPF_JMP | BPF_JA, WIRENET_JUMP(STEP_SAMPLE, STEP_INITIATION_TO_SAMPLE), 0, 0),
        [STEP_RESPONSE] = BPF_STMT(BPF_LDX | BPF_W | BPF_IMM, UDP_HEADER + WG_RESPONSE_SIZE),
        [STEP_SAMPLE] = BPF_STMT(sampling ? BPF_LD | BPF_W | BPF_ABS : BPF_LD | BPF_W | BPF_IMM,
                                 sampling ? (uint32_t)(SKF_AD_OFF + SKF_AD_RANDOM) : 0),
        [STEP_SAMPLE_MODULO] = BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, sampling ? handshake_one_in : 1),
        [STEP_SAMPLE_CHECK] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, WIRENET_JUMP(STEP_DROP, STEP_SAMPLE_CHECK)),
        [STEP_HANDSHAKE_LENGTH] = BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
        [STEP_HANDSHAKE_LENGTH_CHECK] = BPF_JUMP(BPF_JMP | handshake_compare | BPF_X, 0, WIRENET_JUMP(STEP_ACCEPT, STEP_HANDSHAKE_LENGTH_CHECK),
                                              WIRENET_JUMP(STEP_REJECT, STEP_HANDSHAKE_LENGTH_CHECK)),

        [STEP_ACCEPT] = BPF_STMT(BPF_RET | BPF_K, 0xFFFFFFFFu),  // pass, untrimmed
        [STEP_REJECT] = BPF_STMT(BPF_RET | BPF_K, reject),       // foreign: drop, or pass when asked to
        [STEP_DROP] = BPF_STMT(BPF_RET | BPF_K, 0),              // not sampled
    };
    struct sock_fprog program = { .len = STEP_COUNT, .filter = code };
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) < 0) return -errno;
    return 0;
}

int wirenet_detach_socket_filter(int fd) {
    int unused = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof unused) < 0) return -errno;
    return 0;
}
