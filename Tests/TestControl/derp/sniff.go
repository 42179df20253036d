package derp

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"
)

// tlsHandshakeRecord is the first byte of every TLS connection: the record
// type of a ClientHello (RFC 8446 §5.1, handshake(22)). No HTTP method starts
// with it.
const tlsHandshakeRecord = 0x16

// sniffTimeout bounds how long a new connection may take to send its first
// byte before it is dropped: implementation choice, same as the handshake.
const sniffTimeout = DefaultHandshakeTimeout

// NewSniffingListener serves TLS and plain HTTP on one port: each accepted
// connection whose first byte starts a TLS record is wrapped with
// tls.Server(conn, cfg) (so an [http.Server] sees a *tls.Conn and fills in
// Request.TLS); any other connection is returned as it is, its first byte
// intact. Connections are sniffed in their own goroutines, so a client that
// sends nothing delays no one; it is dropped after 10 s. With a nil cfg every
// connection is passed on as it is. Closing the returned listener closes inner.
func NewSniffingListener(inner net.Listener, cfg *tls.Config) net.Listener {
	l := &sniffingListener{
		inner: inner,
		cfg:   cfg,
		conns: make(chan net.Conn),
		done:  make(chan struct{}),
	}
	go l.acceptLoop()
	return l
}

type sniffingListener struct {
	inner net.Listener
	cfg   *tls.Config
	conns chan net.Conn
	done  chan struct{}

	closeOnce sync.Once
	mu        sync.Mutex
	err       error // why acceptLoop stopped
}

// Accept returns the next sniffed connection.
func (l *sniffingListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		l.mu.Lock()
		defer l.mu.Unlock()
		return nil, l.err
	}
}

// Close stops accepting and closes the inner listener.
func (l *sniffingListener) Close() error {
	err := l.inner.Close()
	l.stop(net.ErrClosed)
	return err
}

// Addr is the inner listener's address.
func (l *sniffingListener) Addr() net.Addr { return l.inner.Addr() }

func (l *sniffingListener) stop(err error) {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.err = err
		l.mu.Unlock()
		close(l.done)
	})
}

func (l *sniffingListener) acceptLoop() {
	var backoff time.Duration
	for {
		nc, err := l.inner.Accept()
		if err != nil {
			// Temporary errors (EMFILE and the like): back off and retry,
			// as net/http's Server does.
			if isTemporary(err) {
				if backoff == 0 {
					backoff = 5 * time.Millisecond
				} else if backoff *= 2; backoff > time.Second {
					backoff = time.Second
				}
				select {
				case <-time.After(backoff):
					continue
				case <-l.done:
					return
				}
			}
			l.stop(err)
			return
		}
		backoff = 0
		go l.sniff(nc)
	}
}

// isTemporary reports the deprecated-but-still-set Temporary() of accept errors.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// sniff reads the first byte and hands the connection to Accept.
func (l *sniffingListener) sniff(nc net.Conn) {
	_ = nc.SetReadDeadline(time.Now().Add(sniffTimeout))
	var first [1]byte
	if _, err := nc.Read(first[:]); err != nil {
		nc.Close()
		return
	}
	_ = nc.SetReadDeadline(time.Time{})
	var c net.Conn = &prefixConn{Conn: nc, prefix: first[:]}
	if first[0] == tlsHandshakeRecord && l.cfg != nil {
		c = tls.Server(c, l.cfg)
	}
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

// prefixConn replays bytes already read before reading from Conn.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
