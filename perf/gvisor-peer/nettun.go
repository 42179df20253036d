package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"

	"golang.zx2c4.com/wireguard/tun"
	"gvisor.dev/gvisor/pkg/bufferv2"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// nicID is the one network interface of the stack.
const nicID tcpip.NICID = 1

// outboundQueueLength is the depth of the channel endpoint between gVisor and WireGuard; 1024
// is what wireguard-go's tun/netstack uses.
const outboundQueueLength = 1024

// netTUN is a wireguard-go tun.Device (per-packet API of wireguard-go 0.0.20220316) whose
// "kernel" is a gVisor network stack: the architecture of tsnet and of wireguard-go's
// tun/netstack (used by wireproxy). Packets WireGuard decrypts are injected into gVisor;
// packets gVisor emits wait in a channel endpoint until WireGuard's TUN reader takes them.
//
// Debian packages wireguard-go without tun/netstack, so this is our own adapter against
// Debian's gVisor (2022-12); see perf/README.md, "gVisor peer".
type netTUN struct {
	ep     *channel.Endpoint
	stack  *stack.Stack
	events chan tun.Event
	mtu    int
	ctx    context.Context
	cancel context.CancelFunc
	closed sync.Once
	// lifetime keeps Close from detaching the endpoint while Write injects into it: wireguard-go's
	// receive goroutines may still deliver a packet while the device shuts down, and an endpoint
	// whose NIC is removed has no dispatcher (a nil dereference in InjectInbound).
	lifetime sync.RWMutex
	detached bool
}

// newNetTUN builds a gVisor stack with the given interface addresses and TCP tuning profile.
func newNetTUN(addrs []netip.Prefix, mtu int, profile string) (*netTUN, error) {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6},
		HandleLocal:        true,
	})
	if err := applyTuning(s, profile); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &netTUN{
		ep:     channel.New(outboundQueueLength, uint32(mtu), ""),
		stack:  s,
		events: make(chan tun.Event, 4),
		mtu:    mtu,
		ctx:    ctx,
		cancel: cancel,
	}
	if err := s.CreateNIC(nicID, t.ep); err != nil {
		return nil, fmt.Errorf("CreateNIC: %v", err)
	}
	var has4, has6 bool
	for _, p := range addrs {
		proto := ipv4.ProtocolNumber
		if p.Addr().Is6() {
			proto = ipv6.ProtocolNumber
			has6 = true
		} else {
			has4 = true
		}
		pa := tcpip.ProtocolAddress{
			Protocol:          proto,
			AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.Address(p.Addr().AsSlice()), PrefixLen: p.Bits()},
		}
		if err := s.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); err != nil {
			return nil, fmt.Errorf("AddProtocolAddress(%v): %v", p, err)
		}
	}
	if has4 {
		s.AddRoute(tcpip.Route{Destination: header.IPv4EmptySubnet, NIC: nicID})
	}
	if has6 {
		s.AddRoute(tcpip.Route{Destination: header.IPv6EmptySubnet, NIC: nicID})
	}
	t.events <- tun.EventUp
	return t, nil
}

// applyTuning sets the TCP options of a profile:
//   - "wgnetstack": gVisor's defaults, as wireguard-go's tun/netstack up to 0.0.20230223 (and
//     so wireproxy) left them: no SACK, 1 MiB buffers, no receive-buffer moderation.
//   - "tsnet": what Tailscale's netstack sets (wgengine/netstack: netstack.go, netstack_tcpbuf_default.go):
//     SACK on, CUBIC congestion control, receive-buffer moderation on, receive buffer up to 8 MiB,
//     send buffer up to 6 MiB. (The 7 MiB UDP socket buffers magicsock adds: socketbuffers.go.)
func applyTuning(s *stack.Stack, profile string) error {
	switch profile {
	case "wgnetstack":
		return nil
	case "tsnet":
		sack := tcpip.TCPSACKEnabled(true)
		cubic := tcpip.CongestionControlOption("cubic")
		moderate := tcpip.TCPModerateReceiveBufferOption(true)
		rx := tcpip.TCPReceiveBufferSizeRangeOption{Min: tcp.MinBufferSize, Default: tcp.DefaultReceiveBufferSize, Max: 8 << 20}
		tx := tcpip.TCPSendBufferSizeRangeOption{Min: tcp.MinBufferSize, Default: tcp.DefaultSendBufferSize, Max: 6 << 20}
		for _, opt := range []tcpip.SettableTransportProtocolOption{&sack, &cubic, &moderate, &rx, &tx} {
			if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, opt); err != nil {
				return fmt.Errorf("TCP option %T: %v", opt, err)
			}
		}
		return nil
	}
	return fmt.Errorf("unknown tuning profile %q (tsnet | wgnetstack)", profile)
}

func (t *netTUN) File() *os.File { return nil }

// Read hands WireGuard the next packet gVisor wants to send, copied into buf[offset:].
func (t *netTUN) Read(buf []byte, offset int) (int, error) {
	pkt := t.ep.ReadContext(t.ctx)
	if pkt.IsNil() {
		return 0, os.ErrClosed
	}
	defer pkt.DecRef()
	n := 0
	for _, s := range pkt.AsSlices() {
		n += copy(buf[offset+n:], s)
	}
	return n, nil
}

var errNotIP = errors.New("netTUN: packet is neither IPv4 nor IPv6")

// Write gives gVisor one packet WireGuard decrypted. gVisor processes it on this goroutine.
func (t *netTUN) Write(buf []byte, offset int) (int, error) {
	packet := buf[offset:]
	if len(packet) == 0 {
		return 0, nil
	}
	var proto tcpip.NetworkProtocolNumber
	switch packet[0] >> 4 {
	case 4:
		proto = header.IPv4ProtocolNumber
	case 6:
		proto = header.IPv6ProtocolNumber
	default:
		return 0, errNotIP
	}
	t.lifetime.RLock()
	defer t.lifetime.RUnlock()
	if t.detached {
		return 0, os.ErrClosed
	}
	pkb := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: bufferv2.MakeWithData(packet)})
	t.ep.InjectInbound(proto, pkb)
	pkb.DecRef()
	return len(packet), nil
}

func (t *netTUN) Flush() error           { return nil }
func (t *netTUN) MTU() (int, error)      { return t.mtu, nil }
func (t *netTUN) Name() (string, error)  { return "gvisor", nil }
func (t *netTUN) Events() chan tun.Event { return t.events }

func (t *netTUN) Close() error {
	t.closed.Do(func() {
		t.cancel()
		t.lifetime.Lock()
		t.detached = true
		t.lifetime.Unlock()
		t.stack.RemoveNIC(nicID)
		t.ep.Close()
		close(t.events)
	})
	return nil
}
