package wnproto

import (
	"errors"
	"io"
	"net"
	"time"
)

// BulkChunk is the size of each read and write of the bulk operations (sink and source).
const BulkChunk = 128 << 10

// headerTimeout bounds how long a new connection may take to send its header.
const headerTimeout = 10 * time.Second

// halfCloser is a stream whose sending direction can be closed on its own (TCP FIN), as both
// *net.TCPConn and gVisor's *gonet.TCPConn are.
type halfCloser interface {
	CloseWrite() error
}

// Serve accepts connections from l and runs each one's test on its own goroutine until l is
// closed. logf receives one line per failed connection (nil: silent).
func Serve(l net.Listener, logf func(format string, args ...any)) error {
	for {
		c, err := l.Accept()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			return err
		}
		go func() {
			if err := ServeConn(c); err != nil && logf != nil {
				logf("wnproto: %v: %v", c.RemoteAddr(), err)
			}
		}()
	}
}

// ServeConn runs the server side of one connection and closes it.
func ServeConn(c net.Conn) error {
	defer c.Close()
	if err := c.SetReadDeadline(time.Now().Add(headerTimeout)); err != nil {
		return err
	}
	h, err := ReadHeader(c)
	if err != nil {
		return err
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		return err
	}
	switch h.Op {
	case OpSink:
		return serveSink(c)
	case OpSource:
		return serveSource(c, time.Duration(h.Argument)*time.Millisecond)
	case OpEcho:
		return serveEcho(c, int(h.Argument))
	case OpConnect:
		_, err := c.Write([]byte{byte(OpConnect)})
		return err
	}
	return ErrBadHeader
}

func serveSink(c net.Conn) error {
	buf := make([]byte, BulkChunk)
	var total uint64
	var first, last time.Time
	for {
		n, err := c.Read(buf)
		if n > 0 {
			last = time.Now()
			if total == 0 {
				first = last
			}
			total += uint64(n)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	report := SinkReport{Bytes: total}
	if total > 0 {
		report.ActiveNanos = uint64(last.Sub(first).Nanoseconds())
	}
	b := report.Encode()
	_, err := c.Write(b[:])
	return err
}

func serveSource(c net.Conn, d time.Duration) error {
	buf := make([]byte, BulkChunk)
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if _, err := c.Write(buf); err != nil {
			return err
		}
	}
	if hc, ok := c.(halfCloser); ok {
		return hc.CloseWrite()
	}
	return nil
}

func serveEcho(c net.Conn, size int) error {
	buf := make([]byte, size)
	for {
		if _, err := io.ReadFull(c, buf); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if _, err := c.Write(buf); err != nil {
			return err
		}
	}
}
