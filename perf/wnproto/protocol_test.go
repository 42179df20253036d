package wnproto

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

func TestHeaderRoundTripsThroughItsWireForm(t *testing.T) {
	for _, h := range []Header{{OpSink, 0}, {OpSource, 1500}, {OpEcho, 64}, {OpConnect, 0}} {
		b := h.Encode()
		got, err := ReadHeader(bytes.NewReader(b[:]))
		if err != nil || got != h {
			t.Fatalf("%+v: got %+v, %v", h, got, err)
		}
	}
}

func TestHeaderWireFormIsMagicOpZerosBigEndianArgument(t *testing.T) {
	b := Header{OpEcho, 0x0102}.Encode()
	want := []byte{'W', 'N', 'P', '1', 'E', 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2}
	if !bytes.Equal(b[:], want) {
		t.Fatalf("got % x, want % x", b, want)
	}
}

func TestMalformedHeadersAreRejected(t *testing.T) {
	bad := [][]byte{
		[]byte("XNP1S\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), // magic
		[]byte("WNP1S\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00"), // reserved byte
		[]byte("WNP1Z\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), // unknown op
		[]byte("WNP1E\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), // echo size 0
		[]byte("WNP1E\x00\x00\x00\x00\x00\x00\x00\x00\x20\x00\x01"), // echo size > MaxEchoSize
		[]byte("WNP1R\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff"), // source too long
		[]byte("WNP1C\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"), // connect with argument
	}
	for i, b := range bad {
		if _, err := ReadHeader(bytes.NewReader(b)); !errors.Is(err, ErrBadHeader) {
			t.Errorf("case %d: got %v, want ErrBadHeader", i, err)
		}
	}
}

func TestEveryTestRunsAgainstTheServerOnLoopback(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go Serve(l, nil)
	var d net.Dialer
	dial := func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", l.Addr().String()) }
	ctx := context.Background()
	const dur = 200 * time.Millisecond

	up, err := Upload(ctx, dial, 2, dur)
	if err != nil || up.Bytes == 0 || up.PerFlowB[0] == 0 || up.PerFlowB[1] == 0 {
		t.Fatalf("upload: %+v, %v", up, err)
	}
	down, err := Download(ctx, dial, 2, dur)
	if err != nil || down.Bytes == 0 {
		t.Fatalf("download: %+v, %v", down, err)
	}
	lat, err := Latency(ctx, dial, 64, dur, 10*time.Millisecond)
	if err != nil || lat.Count == 0 || lat.P50Micros > lat.P99Micros || lat.P99Micros > lat.MaxMicros {
		t.Fatalf("latency: %+v, %v", lat, err)
	}
	conn, err := Connect(ctx, dial, 2, dur)
	if err != nil || conn.Count == 0 || conn.Errors != 0 {
		t.Fatalf("connect: %+v, %v", conn, err)
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	s := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if p := percentile(s, 0.5); p != 5 {
		t.Errorf("p50 = %v", p)
	}
	if p := percentile(s, 0.99); p != 10 {
		t.Errorf("p99 = %v", p)
	}
	if p := percentile(s[:1], 0.99); p != 1 {
		t.Errorf("p99 of one = %v", p)
	}
}

func TestProcUsageOfThisProcessHasMemory(t *testing.T) {
	u, err := ReadProcUsage(0)
	if err != nil || u.RSSKiB <= 0 || u.HWMKiB < u.RSSKiB {
		t.Fatalf("%+v, %v", u, err)
	}
}
