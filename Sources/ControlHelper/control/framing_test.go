package control

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

func frame(payload []byte) []byte {
	var hdr [4]byte
	binary.LittleEndian.PutUint32(hdr[:], uint32(len(payload)))
	return append(hdr[:], payload...)
}

func zstdFrame(t testing.TB, payload string) []byte {
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return frame(enc.EncodeAll([]byte(payload), nil))
}

func TestMapFramesAreLittleEndianLengthPrefixedZstd(t *testing.T) {
	var body []byte
	body = append(body, zstdFrame(t, `{"KeepAlive":true}`)...)
	body = append(body, frame([]byte(`{"Domain":"plain"}`))...) // uncompressed JSON passes through
	body = append(body, zstdFrame(t, strings.Repeat(" ", 100000)+`{}`)...)
	fr, err := NewMapFrameReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer fr.Close()
	for _, want := range []string{`{"KeepAlive":true}`, `{"Domain":"plain"}`, strings.Repeat(" ", 100000) + `{}`} {
		got, err := fr.Next()
		if err != nil || string(got) != want {
			t.Fatalf("got %.40q %v", got, err)
		}
	}
	if _, err := fr.Next(); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
}

func TestMapFramesRejectOversizeTruncatedAndCorrupt(t *testing.T) {
	huge := []byte{0xff, 0xff, 0xff, 0x7f}
	fr, _ := NewMapFrameReader(bytes.NewReader(huge))
	if _, err := fr.Next(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversize: %v", err)
	}
	fr, _ = NewMapFrameReader(bytes.NewReader([]byte{10, 0, 0, 0, 'a'}))
	if _, err := fr.Next(); err == nil || err == io.EOF {
		t.Fatalf("truncated: %v", err)
	}
	fr, _ = NewMapFrameReader(bytes.NewReader([]byte{10, 0}))
	if _, err := fr.Next(); err == nil || err == io.EOF {
		t.Fatalf("truncated header: %v", err)
	}
	corrupt := zstdFrame(t, strings.Repeat("netmap", 1000))
	corrupt[len(corrupt)-3] ^= 0xff
	corrupt[12] ^= 0x55
	fr, _ = NewMapFrameReader(bytes.NewReader(corrupt))
	if _, err := fr.Next(); err == nil {
		t.Fatal("corrupt zstd accepted")
	}
}

func TestMapFrameDecompressionIsBounded(t *testing.T) {
	// A zstd bomb: a small frame that would decode past the limit.
	enc, _ := zstd.NewWriter(nil)
	bomb := enc.EncodeAll(make([]byte, maxMapMessageSize+1), nil)
	enc.Close()
	if len(bomb) > maxMapFrameSize {
		t.Fatalf("bomb of %d bytes does not fit a frame", len(bomb))
	}
	fr, _ := NewMapFrameReader(bytes.NewReader(frame(bomb)))
	if _, err := fr.Next(); err == nil {
		t.Fatal("decoded past the size limit")
	}
}

func TestMapSessionNeedsSelfFirstAndSkipsKeepAlives(t *testing.T) {
	s := &mapSession{table: newTableForTest(), now: func() time.Time { return time.Unix(0, 0) }}
	if ev, _, err := s.handle([]byte(`{"KeepAlive":true}`)); ev != nil || err != nil {
		t.Fatalf("keep-alive: %v %v", ev, err)
	}
	if _, _, err := s.handle([]byte(`{"Peers":[{"ID":2}]}`)); err == nil {
		t.Fatal("a first response without Node was accepted")
	}
	ev, _, err := s.handle([]byte(`{"Node":{"ID":1,"Addresses":["100.64.0.1/32"]}}`))
	if err != nil || ev == nil || !ev.Full {
		t.Fatalf("first: %+v %v", ev, err)
	}
}

// FuzzMapDecoder feeds arbitrary bytes through frame decoding and the map session: errors are fine,
// panics and hangs are not.
func FuzzMapDecoder(f *testing.F) {
	f.Add([]byte(`{"Node":{"ID":1},"Peers":[{"ID":2,"Addresses":["1.2.3.4/32"],"AllowedIPs":null}]}`))
	f.Add([]byte(`{"PeersChangedPatch":[{"NodeID":2,"DERPRegion":-1}],"OnlineChange":{"2":true},"PeerSeenChange":{"x":true}}`))
	f.Add([]byte(`{"PacketFilter":[{"SrcIPs":["1.1.1.1-1.1.1.0","*","::-::1"],"SrcBits":[99,-5],"DstPorts":[{"IP":"fe80::1%eth0","Bits":200,"Ports":{"First":9,"Last":1}}],"IPProto":[-1,999]}]}`))
	f.Add([]byte(`{"PacketFilters":{"*":null,"a":[{"SrcIPs":["::ffff:1.2.3.4/100"],"DstPorts":[{"IP":"::ffff:0.0.0.0-::ffff:255.255.255.255"}]}]}}`))
	f.Add([]byte(`{"Node":{"ID":1,"KeyExpiry":"not a time"}}`))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0, 1, 2, 3})
	f.Add(frame([]byte(`{"KeepAlive":true}`)))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &mapSession{table: newTableForTest(), now: time.Now}
		s.handle([]byte(`{"Node":{"ID":1}}`))
		s.handle(data)
		fr, err := NewMapFrameReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		defer fr.Close()
		for i := 0; i < 4; i++ {
			msg, err := fr.Next()
			if err != nil {
				return
			}
			s.handle(msg)
		}
	})
}

// TestDecoderKeepsNoBuffersAfterALargeMap: after a large map the reader's zstd decoder is
// replaced, so that its buffers (as large as the map) do not stay in the process for the session.
func TestDecoderKeepsNoBuffersAfterALargeMap(t *testing.T) {
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	frame := enc.EncodeAll(bigMap(10000), nil)
	r, err := NewMapFrameReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	out, err := r.Decode(frame)
	if err != nil || len(out) < releaseDecoderAfter {
		t.Fatalf("decoded %d bytes, %v", len(out), err)
	}
	out = nil
	runtime.GC()
	runtime.ReadMemStats(&after)
	if kept := int64(after.HeapAlloc) - int64(before.HeapAlloc); kept > 1<<20 {
		t.Fatalf("the reader keeps %d bytes after a large map", kept)
	}
	runtime.KeepAlive(out)
}
