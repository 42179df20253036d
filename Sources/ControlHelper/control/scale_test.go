package control

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// bigMap is a first MapResponse with n peers shaped like the test control server's.
func bigMap(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"Node":{"ID":1,"Name":"self.tailnet.test.","Key":"nodekey:` + strings.Repeat("1", 64) + `","Addresses":["100.64.0.1/32","fd7a:115c:a1e0::1/128"]},"Domain":"tailnet.test","PacketFilter":[{"SrcIPs":["*"],"DstPorts":[{"IP":"*","Ports":{"First":0,"Last":65535}}]}],"Peers":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		id := i + 2
		fmt.Fprintf(&b, `{"ID":%d,"StableID":"n%d","Name":"peer%d.tailnet.test.","Key":"nodekey:%064x","DiscoKey":"discokey:%064x","Addresses":["100.64.%d.%d/32","fd7a:115c:a1e0::%x/128"],"AllowedIPs":["100.64.%d.%d/32","fd7a:115c:a1e0::%x/128"],"Endpoints":["192.0.2.%d:41641"],"HomeDERP":900,"Hostinfo":{"Hostname":"peer%d","OS":"linux"},"Online":true,"LastSeen":"2026-11-30T12:00:00Z","MachineAuthorized":true}`,
			id, id, id, id, id, id/256, id%256, id, id/256, id%256, id, id%256, id)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// BenchmarkTenThousandPeerFullMap measures decode + merge + event JSON for a 10,000-peer map.
func BenchmarkTenThousandPeerFullMap(b *testing.B) {
	msg := bigMap(10000)
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := &mapSession{table: newTableForTest(), now: time.Now}
		ev, _, err := s.handle(msg)
		if err != nil || len(ev.Peers) != 10000 {
			b.Fatal(err)
		}
		if _, err := json.Marshal(ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeltaInTenThousandPeerMap measures one PeersChangedPatch against 10,000 peers.
func BenchmarkDeltaInTenThousandPeerMap(b *testing.B) {
	s := &mapSession{table: newTableForTest(), now: time.Now}
	if _, _, err := s.handle(bigMap(10000)); err != nil {
		b.Fatal(err)
	}
	delta := []byte(`{"PeersChangedPatch":[{"NodeID":500,"Endpoints":["198.51.100.7:41641"]}],"OnlineChange":{"501":false}}`)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev, _, err := s.handle(delta)
		if err != nil || len(ev.Peers) != 2 {
			b.Fatal(err)
		}
		if _, err := json.Marshal(ev); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTenThousandPeerTableHeap logs the live heap a 10,000-peer session keeps once the map that
// built it is garbage (the figure perf/tailnet-scale.sh sees as the helper's share per peer).
func TestTenThousandPeerTableHeap(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := &mapSession{table: newTableForTest(), now: time.Now}
	if _, _, err := s.handle(bigMap(10000)); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if s.table.PeerCount() != 10000 {
		t.Fatalf("%d peers", s.table.PeerCount())
	}
	t.Logf("live heap per peer: %d bytes", (int64(after.HeapAlloc)-int64(before.HeapAlloc))/10000)
	runtime.KeepAlive(s)
}
