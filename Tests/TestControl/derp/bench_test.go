package derp

import (
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkRelayPlainHTTP measures one client sending 1280-byte packets to
// another through the relay over plain HTTP on loopback (for comparison with
// the direct path; not asserted anywhere).
func BenchmarkRelayPlainHTTP(b *testing.B) { benchmarkRelay(b, false) }

// BenchmarkRelayTLS is the same over TLS, as real clients connect.
func BenchmarkRelayTLS(b *testing.B) { benchmarkRelay(b, true) }

func benchmarkRelay(b *testing.B, useTLS bool) {
	r := startRelay(b, func(s *Server) { s.SendQueueDepth = 1024 })
	src := r.dial(b, dialOptions{tls: useTLS})
	dst := r.dial(b, dialOptions{tls: useTLS})
	pkt := make([]byte, 1280)
	b.SetBytes(int64(len(pkt)))
	var delivered atomic.Uint64
	go func() {
		for {
			t, _, err := dst.tryReadFrame()
			if err != nil {
				return
			}
			if t == FrameRecvPacket {
				delivered.Add(1)
			}
		}
	}()
	before := r.s.Stats()
	b.ResetTimer()
	frame := append(append([]byte{}, dst.pub[:]...), pkt...)
	for i := 0; i < b.N; i++ {
		writeFrame(src.bw, FrameSendPacket, frame)
		if i%64 == 63 {
			src.flush()
		}
	}
	src.flush()
	src.roundTrip() // the relay has read every packet
	// Wait until every packet is either delivered or dropped (the queue is bounded).
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := r.s.Stats()
		dropped := st.Dropped["queue_full"] - before.Dropped["queue_full"]
		if delivered.Load()+dropped >= uint64(b.N) || time.Now().After(deadline) {
			b.StopTimer()
			b.ReportMetric(float64(dropped)/float64(b.N), "dropped/op")
			return
		}
		time.Sleep(time.Millisecond)
	}
}
