// Command gvisor-peer is row (c) of the WireNet performance comparison: a userspace WireGuard
// node built the way tsnet and wireproxy build theirs — wireguard-go's device with a gVisor
// netstack as its TUN, UDP through wireguard-go's socket bind — running the wnproto tests on
// gVisor TCP connections in the same process.
//
//	gvisor-peer serve  -config FILE [-tuning tsnet|wgnetstack] [-listen :5201]
//	gvisor-peer client -config FILE [-tuning tsnet|wgnetstack] -- -connect HOST:PORT -test T [flags]
//
// Profile tsnet also sizes the UDP sockets as Tailscale's magicsock does (7 MiB, forced).
//
// FILE is a wg-quick style configuration ([Interface] PrivateKey, ListenPort, Address, MTU;
// [Peer] PublicKey, Endpoint, AllowedIPs, PersistentKeepalive).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"

	"wirenet-perf/wnproto"
)

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "serve" && os.Args[1] != "client") {
		fmt.Fprintln(os.Stderr, "usage: gvisor-peer serve -config FILE [-tuning P] [-listen :PORT] | client -config FILE [-tuning P] -- CLIENT-FLAGS")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "gvisor-peer:", err)
		os.Exit(1)
	}
}

func run(mode string, args []string) error {
	fs := flag.NewFlagSet("gvisor-peer "+mode, flag.ContinueOnError)
	configPath := fs.String("config", "", "wg-quick style configuration file")
	tuning := fs.String("tuning", "tsnet", "gVisor TCP options: tsnet | wgnetstack")
	listen := fs.String("listen", ":5201", "serve: TCP address to listen on inside the tunnel")
	logLevel := fs.Int("wg-log", device.LogLevelError, "wireguard-go log level (0 silent, 1 error, 2 verbose)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *configPath == "" {
		return fmt.Errorf("-config is required")
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	ntun, err := newNetTUN(cfg.addresses, cfg.mtu, *tuning)
	if err != nil {
		return err
	}
	dev := device.NewDevice(ntun, conn.NewDefaultBind(), device.NewLogger(*logLevel, "gvisor-peer: "))
	defer dev.Close()
	if err := dev.IpcSet(cfg.uapi.String()); err != nil {
		return fmt.Errorf("configuring wireguard-go: %w", err)
	}
	if err := dev.Up(); err != nil {
		return err
	}
	if *tuning == "tsnet" {
		// magicsock sizes its UDP sockets; wireguard-go's bind of this version does not.
		sizes, err := forceUDPSocketBuffers(tsnetSocketBufferSize)
		if err != nil {
			return fmt.Errorf("sizing the UDP sockets as magicsock does: %w", err)
		}
		log.Printf("gvisor-peer: UDP socket buffers (tsnet):%s", sizes)
	}

	if mode == "client" {
		return wnproto.RunClientCommand("gvisor-peer", fs.Args(), func(addr string) wnproto.Dialer {
			return func(ctx context.Context) (net.Conn, error) {
				ap, err := netip.ParseAddrPort(addr)
				if err != nil {
					return nil, err
				}
				fa, proto := fullAddress(ap)
				return gonet.DialContextTCP(ctx, ntun.stack, fa, proto)
			}
		})
	}

	ap, err := parseListen(*listen)
	if err != nil {
		return err
	}
	fa, proto := fullAddress(ap)
	l, err := gonet.ListenTCP(ntun.stack, fa, proto)
	if err != nil {
		return fmt.Errorf("listen %s: %w", *listen, err)
	}
	log.Printf("gvisor-peer (tuning %s) listening on %s inside the tunnel", *tuning, ap)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	served := make(chan error, 1)
	go func() { served <- wnproto.Serve(l, log.Printf) }()
	select {
	case <-stop:
		l.Close()
		return nil
	case err := <-served:
		return err
	}
}

// parseListen accepts ":PORT" (every local address, IPv4) or "ADDR:PORT".
func parseListen(s string) (netip.AddrPort, error) {
	if len(s) > 0 && s[0] == ':' {
		s = "0.0.0.0" + s
	}
	return netip.ParseAddrPort(s)
}

func fullAddress(ap netip.AddrPort) (tcpip.FullAddress, tcpip.NetworkProtocolNumber) {
	fa := tcpip.FullAddress{NIC: nicID, Port: ap.Port()}
	if !ap.Addr().IsUnspecified() {
		fa.Addr = tcpip.Address(ap.Addr().AsSlice())
	}
	if ap.Addr().Is4() {
		return fa, ipv4.ProtocolNumber
	}
	return fa, ipv6.ProtocolNumber
}
