#define _GNU_SOURCE
#include "wirenet_system.h"

#include <errno.h>
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

int wirenet_attach_handshake_sampling(int fd, uint32_t one_in) {
    if (one_in < 2) return -EINVAL;
    // On a UDP socket the filter sees the datagram from its UDP header on: the WireGuard message
    // type is the little-endian u32 after the 8-byte header, which BPF loads in network order. The
    // whole word is compared, not its first byte, so that a STUN binding response (0x0101...) is
    // never taken for an initiation. A datagram with under 4 bytes of payload (too short for the
    // load) is dropped, as the device would drop it.
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 8),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x01000000u, 1, 0),  // initiation: sample
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x02000000u, 0, 3),  // response: sample; else: pass
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_RANDOM)),
        BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, one_in),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, 0xFFFFFFFFu),              // pass, untrimmed
        BPF_STMT(BPF_RET | BPF_K, 0),                        // drop
    };
    struct sock_fprog program = { .len = sizeof code / sizeof code[0], .filter = code };
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) < 0) return -errno;
    return 0;
}

int wirenet_detach_socket_filter(int fd) {
    int unused = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof unused) < 0) return -errno;
    return 0;
}
