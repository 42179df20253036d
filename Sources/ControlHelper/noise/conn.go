package noise

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

const (
	// MaxMessageSize is the largest frame on the wire, header included (controlbase/conn.go).
	MaxMessageSize = 4096
	// maxCiphertextSize is what one record carries after its 3-byte header.
	maxCiphertextSize = MaxMessageSize - 3
	// MaxPlaintextSize is what one record carries after encryption and framing.
	MaxPlaintextSize = maxCiphertextSize - chacha20poly1305.Overhead
)

// nonce is a per-direction counter: 4 zero bytes then a big-endian u64, starting at 0; the last
// value (2^64-1) is never used (controlbase/conn.go).
type nonce struct{ counter uint64 }

func (n *nonce) next() ([chacha20poly1305.NonceSize]byte, error) {
	var out [chacha20poly1305.NonceSize]byte
	if n.counter == ^uint64(0) {
		return out, errors.New("noise: nonces exhausted")
	}
	binary.BigEndian.PutUint64(out[4:], n.counter)
	n.counter++
	return out, nil
}

// Conn is an established transport: every Write becomes records of at most MaxMessageSize bytes,
// every Read decrypts one record at a time. Any error is final for its direction.
type Conn struct {
	raw   net.Conn
	rawIn io.Reader // raw, or a buffered reader over it holding bytes read past the HTTP upgrade

	rxMu      sync.Mutex
	rx        cipher.AEAD
	rxNonce   nonce
	rxErr     error
	frame     [MaxMessageSize]byte
	plaintext []byte

	txMu    sync.Mutex
	tx      cipher.AEAD
	txNonce nonce
	txErr   error
}

// NewConn wraps raw with the transport keys from a finished handshake. Reads go through in, which
// may be a buffered reader over raw.
func NewConn(raw net.Conn, in io.Reader, tx, rx cipher.AEAD) *Conn {
	if in == nil {
		in = raw
	}
	return &Conn{raw: raw, rawIn: in, tx: tx, rx: rx}
}

// sealRecord appends one record of plaintext (at most MaxPlaintextSize bytes) to dst.
func sealRecord(dst []byte, aead cipher.AEAD, n *nonce, plaintext []byte) ([]byte, error) {
	nb, err := n.next()
	if err != nil {
		return nil, err
	}
	var hdr [3]byte
	hdr[0] = msgTypeRecord
	binary.BigEndian.PutUint16(hdr[1:], uint16(len(plaintext)+chacha20poly1305.Overhead))
	dst = append(dst, hdr[:]...)
	return aead.Seal(dst, nb[:], plaintext, nil), nil
}

// Read implements io.Reader.
func (c *Conn) Read(p []byte) (int, error) {
	c.rxMu.Lock()
	defer c.rxMu.Unlock()
	for len(c.plaintext) == 0 { // zero-length records are allowed
		if c.rxErr != nil {
			return 0, c.rxErr
		}
		if err := c.readRecordLocked(); err != nil {
			c.rxErr = err
			return 0, err
		}
	}
	n := copy(p, c.plaintext)
	c.plaintext = c.plaintext[n:]
	return n, nil
}

func (c *Conn) readRecordLocked() error {
	hdr := c.frame[:3]
	if _, err := io.ReadFull(c.rawIn, hdr); err != nil {
		return err
	}
	length := int(binary.BigEndian.Uint16(hdr[1:3]))
	if hdr[0] != msgTypeRecord {
		return fmt.Errorf("noise: record of type %d, want %d", hdr[0], msgTypeRecord)
	}
	if length > maxCiphertextSize || length < chacha20poly1305.Overhead {
		return fmt.Errorf("noise: record of %d bytes outside 16...%d", length, maxCiphertextSize)
	}
	body := c.frame[3 : 3+length]
	if _, err := io.ReadFull(c.rawIn, body); err != nil {
		return err
	}
	nb, err := c.rxNonce.next()
	if err != nil {
		return err
	}
	plain, err := c.rx.Open(body[:0], nb[:], body, nil)
	if err != nil {
		return errors.New("noise: a record does not authenticate")
	}
	c.plaintext = plain
	return nil
}

// Write implements io.Writer.
func (c *Conn) Write(p []byte) (int, error) {
	c.txMu.Lock()
	defer c.txMu.Unlock()
	if c.txErr != nil {
		return 0, c.txErr
	}
	buf := make([]byte, 0, MaxMessageSize)
	sent := 0
	for len(p) > 0 {
		chunk := p
		if len(chunk) > MaxPlaintextSize {
			chunk = chunk[:MaxPlaintextSize]
		}
		var err error
		buf, err = sealRecord(buf[:0], c.tx, &c.txNonce, chunk)
		if err == nil {
			_, err = c.raw.Write(buf)
		}
		if err != nil {
			c.txErr = err
			return sent, err
		}
		sent += len(chunk)
		p = p[len(chunk):]
	}
	return sent, nil
}

// Close closes the underlying connection, which unblocks pending reads and writes.
func (c *Conn) Close() error { return c.raw.Close() }

func (c *Conn) LocalAddr() net.Addr                { return c.raw.LocalAddr() }
func (c *Conn) RemoteAddr() net.Addr               { return c.raw.RemoteAddr() }
func (c *Conn) SetDeadline(t time.Time) error      { return c.raw.SetDeadline(t) }
func (c *Conn) SetReadDeadline(t time.Time) error  { return c.raw.SetReadDeadline(t) }
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.raw.SetWriteDeadline(t) }
