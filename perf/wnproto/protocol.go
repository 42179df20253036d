// Package wnproto is the wire protocol every row of the WireNet performance comparison speaks
// (perf/README.md, "Wire protocol"). One TCP connection carries one test: the client opens with a
// 16-byte header naming the operation, then the operation runs until one side half-closes.
//
// The same code runs over kernel sockets (wnperf) and over gVisor's netstack (gvisor-peer), so
// every row measures the same application behaviour; a Swift implementation for WireNet rows
// follows the same description.
package wnproto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Magic opens every connection: "WNP1" (WireNet perf, protocol version 1).
var Magic = [4]byte{'W', 'N', 'P', '1'}

// HeaderSize is the size of the opening header: magic (4), op (1), reserved zeros (3),
// argument (8, big-endian).
const HeaderSize = 16

// Op names the test a connection runs.
type Op byte

const (
	// OpSink: the client streams bytes until it half-closes; the server counts them and
	// answers with a 16-byte SinkReport, then closes. Argument: 0.
	OpSink Op = 'S'
	// OpSource: the server streams bytes for Argument milliseconds, then closes. The client
	// counts what arrives until end of stream.
	OpSource Op = 'R'
	// OpEcho: the client sends Argument bytes, the server reads exactly that many and writes
	// them back; repeated until the client half-closes. Argument: message size, 1...MaxEchoSize.
	OpEcho Op = 'E'
	// OpConnect: the server writes one byte ('C') and closes. The client reads the byte and
	// end of stream, then closes. Argument: 0.
	OpConnect Op = 'C'
)

// MaxEchoSize bounds OpEcho messages so a malformed header cannot make the server allocate
// without limit.
const MaxEchoSize = 1 << 20

// MaxSourceMillis bounds OpSource so a malformed header cannot keep the server sending forever.
const MaxSourceMillis = 10 * 60 * 1000

// Header is the decoded opening header of a connection.
type Header struct {
	Op       Op
	Argument uint64
}

// Encode writes the header in its 16-byte wire form.
func (h Header) Encode() [HeaderSize]byte {
	var b [HeaderSize]byte
	copy(b[0:4], Magic[:])
	b[4] = byte(h.Op)
	binary.BigEndian.PutUint64(b[8:16], h.Argument)
	return b
}

// ErrBadHeader reports an opening header that is not this protocol.
var ErrBadHeader = errors.New("wnproto: bad header")

// ReadHeader reads and validates the opening header.
func ReadHeader(r io.Reader) (Header, error) {
	var b [HeaderSize]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return Header{}, err
	}
	if [4]byte{b[0], b[1], b[2], b[3]} != Magic || b[5] != 0 || b[6] != 0 || b[7] != 0 {
		return Header{}, ErrBadHeader
	}
	h := Header{Op: Op(b[4]), Argument: binary.BigEndian.Uint64(b[8:16])}
	switch h.Op {
	case OpSink, OpConnect:
		if h.Argument != 0 {
			return Header{}, fmt.Errorf("%w: op %c takes argument 0", ErrBadHeader, h.Op)
		}
	case OpSource:
		if h.Argument == 0 || h.Argument > MaxSourceMillis {
			return Header{}, fmt.Errorf("%w: source duration %d ms", ErrBadHeader, h.Argument)
		}
	case OpEcho:
		if h.Argument == 0 || h.Argument > MaxEchoSize {
			return Header{}, fmt.Errorf("%w: echo size %d", ErrBadHeader, h.Argument)
		}
	default:
		return Header{}, fmt.Errorf("%w: unknown op %q", ErrBadHeader, byte(h.Op))
	}
	return h, nil
}

// SinkReportSize is the size of the server's answer to OpSink: bytes received (8, big-endian)
// and nanoseconds from the first to the last payload byte received (8, big-endian).
const SinkReportSize = 16

// SinkReport is the server's count of an OpSink stream.
type SinkReport struct {
	Bytes       uint64
	ActiveNanos uint64
}

// Encode writes the report in its 16-byte wire form.
func (s SinkReport) Encode() [SinkReportSize]byte {
	var b [SinkReportSize]byte
	binary.BigEndian.PutUint64(b[0:8], s.Bytes)
	binary.BigEndian.PutUint64(b[8:16], s.ActiveNanos)
	return b
}

// ReadSinkReport reads the server's OpSink answer.
func ReadSinkReport(r io.Reader) (SinkReport, error) {
	var b [SinkReportSize]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return SinkReport{}, err
	}
	return SinkReport{Bytes: binary.BigEndian.Uint64(b[0:8]), ActiveNanos: binary.BigEndian.Uint64(b[8:16])}, nil
}
