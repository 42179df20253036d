package main

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// tsnetSocketBufferSize is the UDP socket buffer size Tailscale's magicsock asks for on both
// directions of every UDP socket (wgengine/magicsock: `socketBufferSize = 7 << 20`); on Linux it
// uses SO_RCVBUFFORCE / SO_SNDBUFFORCE first so that net.core.{r,w}mem_max does not clamp it.
const tsnetSocketBufferSize = 7 << 20

// forceUDPSocketBuffers sets the receive and send buffers of every UDP socket this process has
// open — wireguard-go's bind sockets, the only kernel sockets of a gVisor node — as magicsock does:
// the forcing option first (needs CAP_NET_ADMIN), the ordinary one if that fails. The bind in
// Debian's wireguard-go does not expose its descriptors, so they are found in /proc/self/fd.
// Returns a description of what each socket got (the kernel reports twice the requested size).
func forceUDPSocketBuffers(size int) (string, error) {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return "", err
	}
	report := ""
	for _, entry := range entries {
		fd, err := strconv.Atoi(entry.Name())
		if err != nil {
			continue
		}
		kind, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TYPE)
		if err != nil || kind != syscall.SOCK_DGRAM {
			continue // not a socket, or not UDP
		}
		if syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, size) != nil {
			_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, size)
		}
		if syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUFFORCE, size) != nil {
			_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, size)
		}
		rcv, _ := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF)
		snd, _ := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF)
		report += fmt.Sprintf(" fd %d: SO_RCVBUF %d, SO_SNDBUF %d;", fd, rcv, snd)
	}
	if report == "" {
		return "", fmt.Errorf("no UDP socket found to size")
	}
	return report, nil
}
