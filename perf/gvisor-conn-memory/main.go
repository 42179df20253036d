// Command gvisor-conn-memory is the gVisor side of perf/conn-memory.sh (issue 14): N idle
// established TCP connections to one listener of a gVisor netstack in this process, with the TCP
// options Tailscale's netstack sets (the "tsnet" profile of perf/gvisor-peer), opened by a stateless
// raw-packet client that injects each SYN and the ACK of each SYN,ACK (addresses 10.234.0.0/16, no
// host sockets). Prints one JSON line in the shape of ConnectionMemoryProbe's: VmRSS and the Go
// heap in use before and after, per connection.
//
//	gvisor-conn-memory [connections]
package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/bufferv2"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

var serverAddress = tcpip.Address([]byte{10, 234, 0, 1})

const serverPort = 80

// client i: address 10.234.(1 + i/1000/250).(1 + i/1000%250), port 10000 + i%1000 (as the Swift probe).
func client(i int) (tcpip.Address, uint16) {
	host := i / 1000
	return tcpip.Address([]byte{10, 234, byte(1 + host/250), byte(1 + host%250)}), uint16(10000 + i%1000)
}

func residentKiB() int {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			n, _ := strconv.Atoi(strings.Fields(line)[1])
			return n
		}
	}
	return -1
}

func heapBytes() int {
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int(m.HeapInuse + m.StackInuse)
}

func segment(src tcpip.Address, port uint16, seq, ack uint32, flags header.TCPFlags, options []byte) []byte {
	tcpLen := header.TCPMinimumSize + len(options)
	pkt := make([]byte, header.IPv4MinimumSize+tcpLen)
	ip := header.IPv4(pkt)
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(len(pkt)), TTL: 64, Protocol: uint8(tcp.ProtocolNumber),
		SrcAddr: src, DstAddr: serverAddress,
	})
	ip.SetChecksum(^ip.CalculateChecksum())
	t := header.TCP(pkt[header.IPv4MinimumSize:])
	t.Encode(&header.TCPFields{
		SrcPort: port, DstPort: serverPort, SeqNum: seq, AckNum: ack,
		DataOffset: uint8(tcpLen), Flags: flags, WindowSize: 65535 >> 7,
	})
	copy(t[header.TCPMinimumSize:], options)
	xsum := header.PseudoHeaderChecksum(tcp.ProtocolNumber, src, serverAddress, uint16(tcpLen))
	t.SetChecksum(^t.CalculateChecksum(xsum))
	return pkt
}

func synOptions() []byte {
	b := make([]byte, 20)
	n := header.EncodeMSSOption(1380, b)
	n += header.EncodeWSOption(7, b[n:])
	n += header.EncodeSACKPermittedOption(b[n:])
	n += header.EncodeTSOption(1, 0, b[n:])
	for ; n < len(b); n++ {
		b[n] = header.TCPOptionNOP
	}
	return b
}

func ackOptions(echo uint32) []byte {
	b := make([]byte, 12)
	b[0], b[1] = header.TCPOptionNOP, header.TCPOptionNOP
	header.EncodeTSOption(2, echo, b[2:])
	return b
}

func main() {
	connections := 10000
	if len(os.Args) > 1 {
		connections, _ = strconv.Atoi(os.Args[1])
	}
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
	})
	// The "tsnet" profile of perf/gvisor-peer (Tailscale's wgengine/netstack settings).
	sack := tcpip.TCPSACKEnabled(true)
	cubic := tcpip.CongestionControlOption("cubic")
	moderate := tcpip.TCPModerateReceiveBufferOption(true)
	rx := tcpip.TCPReceiveBufferSizeRangeOption{Min: tcp.MinBufferSize, Default: tcp.DefaultReceiveBufferSize, Max: 8 << 20}
	tx := tcpip.TCPSendBufferSizeRangeOption{Min: tcp.MinBufferSize, Default: tcp.DefaultSendBufferSize, Max: 6 << 20}
	for _, opt := range []tcpip.SettableTransportProtocolOption{&sack, &cubic, &moderate, &rx, &tx} {
		if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, opt); err != nil {
			fmt.Fprintln(os.Stderr, "TCP option:", err)
			os.Exit(1)
		}
	}
	ep := channel.New(4096, 1420, "")
	if err := s.CreateNIC(1, ep); err != nil {
		fmt.Fprintln(os.Stderr, "CreateNIC:", err)
		os.Exit(1)
	}
	s.AddProtocolAddress(1, tcpip.ProtocolAddress{
		Protocol:          ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: serverAddress, PrefixLen: 16},
	}, stack.AddressProperties{})
	s.AddRoute(tcpip.Route{Destination: header.IPv4EmptySubnet, NIC: 1})
	listener, err := gonet.ListenTCP(s, tcpip.FullAddress{NIC: 1, Addr: serverAddress, Port: serverPort}, ipv4.ProtocolNumber)
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	var mu sync.Mutex
	accepted := make([]interface{}, 0, connections)
	go func() {
		for {
			c, err := listener.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepted = append(accepted, c)
			mu.Unlock()
		}
	}()
	acceptedCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(accepted)
	}
	inject := func(pkt []byte) {
		buf := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: bufferv2.MakeWithData(pkt)})
		ep.InjectInbound(ipv4.ProtocolNumber, buf)
		buf.DecRef()
	}
	rssBefore := residentKiB()
	heapBefore := heapBytes()
	syn := synOptions()
	for next := 0; next < connections; {
		end := next + 512
		if end > connections {
			end = connections
		}
		for i := next; i < end; i++ {
			addr, port := client(i)
			inject(segment(addr, port, uint32(i)*7919, 0, header.TCPFlagSyn, syn))
		}
		// Collect the SYN,ACKs (gVisor answers from its own goroutines).
		for got := 0; got < end-next; {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			pkt := ep.ReadContext(ctx)
			cancel()
			if pkt.IsNil() {
				fmt.Fprintf(os.Stderr, "timed out waiting for SYN,ACKs: %d of %d\n", got, end-next)
				os.Exit(1)
			}
			b := pkt.ToView().AsSlice()
			ip := header.IPv4(b)
			t := header.TCP(ip.Payload())
			if t.Flags().Contains(header.TCPFlagSyn | header.TCPFlagAck) {
				got++
				opts := t.ParsedOptions()
				inject(segment(ip.DestinationAddress(), t.DestinationPort(), t.AckNumber(), t.SequenceNumber()+1,
					header.TCPFlagAck, ackOptions(opts.TSVal)))
			}
			pkt.DecRef()
		}
		for deadline := time.Now().Add(10 * time.Second); acceptedCount() < end && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		next = end
	}
	time.Sleep(2 * time.Second)
	for ep.NumQueued() > 0 {
		pkt := ep.Read()
		pkt.DecRef()
	}
	established := acceptedCount()
	heapAfter := heapBytes()
	rssAfter := residentKiB()
	per := func(delta int) int {
		if established == 0 {
			return 0
		}
		return delta / established
	}
	fmt.Printf("{\"node\":\"gvisor\",\"connections\":%d,\"established\":%d,\"rss_before_kib\":%d,\"rss_after_kib\":%d,"+
		"\"heap_before_bytes\":%d,\"heap_after_bytes\":%d,\"heap_per_connection_bytes\":%d,\"rss_per_connection_bytes\":%d,"+
		"\"tcp_connection_struct_bytes\":0}\n",
		connections, established, rssBefore, rssAfter, heapBefore, heapAfter, per(heapAfter-heapBefore),
		per((rssAfter-rssBefore)*1024))
}
