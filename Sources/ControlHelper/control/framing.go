package control

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

const (
	// maxMapFrameSize bounds one length-prefixed message of the map body as sent. Tailscale's
	// client takes 4 MiB compressed (direct.go); we allow more for tailnets of many thousand peers.
	maxMapFrameSize = 16 << 20
	// maxMapMessageSize bounds one message after zstd decoding.
	maxMapMessageSize = 128 << 20
)

// zstdMagic starts every zstd frame (RFC 8878 §3.1.1).
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// MapFrameReader reads the map response body: repeated [u32 little-endian length][message], each
// message a zstd frame (or plain JSON when control did not compress) holding one MapResponse
// (tailscale direct.go sendMapRequest / decodeMsg).
type MapFrameReader struct {
	r       io.Reader
	decoder *zstd.Decoder
}

// NewMapFrameReader reads frames from r. Close releases the zstd decoder.
func NewMapFrameReader(r io.Reader) (*MapFrameReader, error) {
	dec, err := newMapDecoder()
	if err != nil {
		return nil, err
	}
	return &MapFrameReader{r: r, decoder: dec}, nil
}

// ErrFrameTooLarge reports a length prefix beyond maxMapFrameSize.
var ErrFrameTooLarge = errors.New("map response frame too large")

// Next returns the next message, decompressed. io.EOF means the body ended between frames.
func (m *MapFrameReader) Next() ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(m.r, hdr[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, errors.New("map response ended inside a frame header")
		}
		return nil, err
	}
	size := binary.LittleEndian.Uint32(hdr[:])
	if size > maxMapFrameSize {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrFrameTooLarge, size, maxMapFrameSize)
	}
	frame := make([]byte, size)
	if _, err := io.ReadFull(m.r, frame); err != nil {
		return nil, fmt.Errorf("map response ended inside a %d-byte frame: %v", size, err)
	}
	return m.Decode(frame)
}

// Decode decompresses one message (or passes plain JSON through).
func (m *MapFrameReader) Decode(frame []byte) ([]byte, error) {
	if !bytes.HasPrefix(frame, zstdMagic) {
		return frame, nil
	}
	out, err := m.decoder.DecodeAll(frame, nil)
	if err != nil {
		return nil, fmt.Errorf("zstd: %v", err)
	}
	if len(out) >= releaseDecoderAfter {
		// The decoder keeps buffers as large as its largest output (5.4 MB after a 10,000-peer
		// map, measured): start afresh so that they become garbage with the map.
		if fresh, err := newMapDecoder(); err == nil {
			m.decoder.Close()
			m.decoder = fresh
		}
	}
	return out, nil
}

// releaseDecoderAfter: a decoded message this large is followed by a fresh decoder (a full map
// of a few thousand peers; later deltas are small).
const releaseDecoderAfter = 1 << 20

func newMapDecoder() (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxMapMessageSize), zstd.WithDecoderLowmem(true))
}

// Close releases the decoder.
func (m *MapFrameReader) Close() { m.decoder.Close() }
