package main

// The server side of tailscale's ts2021 base transport: a Noise_IK_25519_ChaChaPoly_BLAKE2s
// handshake in which the client's machine key is the initiator's static key and this server's
// key (published at /key) the responder's, followed by length-prefixed ChaCha20-Poly1305 records.
// Facts from tailscale's control/controlbase (handshake.go, messages.go, conn.go).

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/blake2s"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/hkdf"
)

const (
	noiseProtocolName     = "Noise_IK_25519_ChaChaPoly_BLAKE2s"
	noiseProloguePrefix   = "Tailscale Control Protocol v"
	noiseMsgInitiation    = 1
	noiseMsgResponse      = 2
	noiseMsgError         = 3
	noiseMsgRecord        = 4
	noiseInitiationLen    = 101 // u16 version | u8 type | u16 length | 32 e | 48 s | 16 tag
	noiseResponseLen      = 51  // u8 type | u16 length | 32 e | 16 tag
	noiseRecordHeaderLen  = 3   // u8 type | u16be length
	noiseMaxMessageSize   = 4096
	noiseMaxCiphertext    = noiseMaxMessageSize - noiseRecordHeaderLen
	noiseMaxPlaintext     = noiseMaxCiphertext - chacha20poly1305.Overhead
	noiseInitiationBody   = noiseInitiationLen - 5
	noiseResponseBody     = noiseResponseLen - 3
	noiseNonceExhausted   = ^uint64(0)
	noiseHandshakeTimeout = 10 * time.Second
)

// noiseHandshake is the symmetric state of an in-flight handshake (Noise spec §5.2).
type noiseHandshake struct {
	h  [32]byte // hash of the transcript so far
	ck [32]byte // chaining key
}

func newBLAKE2s() hash.Hash {
	h, _ := blake2s.New256(nil) // only fails with an oversize MAC key; there is none
	return h
}

func newNoiseHandshake() *noiseHandshake {
	s := &noiseHandshake{}
	s.h = blake2s.Sum256([]byte(noiseProtocolName))
	s.ck = s.h
	return s
}

func (s *noiseHandshake) mixHash(data []byte) {
	h := newBLAKE2s()
	h.Write(s.h[:])
	h.Write(data)
	h.Sum(s.h[:0])
}

// mixDH folds X25519(priv, pub) into the chaining key and returns the one-use key it yields.
func (s *noiseHandshake) mixDH(priv, pub rawKey) ([32]byte, error) {
	var k [32]byte
	shared, err := curve25519.X25519(priv[:], pub[:])
	if err != nil {
		return k, err // a low-order public key
	}
	r := hkdf.New(newBLAKE2s, shared, s.ck[:], nil)
	if _, err := io.ReadFull(r, s.ck[:]); err != nil {
		return k, err
	}
	_, err = io.ReadFull(r, k[:])
	return k, err
}

func zeroNonceAEAD(k [32]byte) cipher.AEAD {
	aead, _ := chacha20poly1305.New(k[:]) // a 32-byte key never fails
	return aead
}

func (s *noiseHandshake) encryptAndHash(k [32]byte, plaintext []byte) []byte {
	var nonce [chacha20poly1305.NonceSize]byte
	out := zeroNonceAEAD(k).Seal(nil, nonce[:], plaintext, s.h[:])
	s.mixHash(out)
	return out
}

func (s *noiseHandshake) decryptAndHash(k [32]byte, ciphertext []byte) ([]byte, error) {
	var nonce [chacha20poly1305.NonceSize]byte
	out, err := zeroNonceAEAD(k).Open(nil, nonce[:], ciphertext, s.h[:])
	if err != nil {
		return nil, err
	}
	s.mixHash(ciphertext)
	return out, nil
}

func (s *noiseHandshake) split() (c1, c2 cipher.AEAD, err error) {
	var k1, k2 [32]byte
	r := hkdf.New(newBLAKE2s, nil, s.ck[:], nil)
	if _, err := io.ReadFull(r, k1[:]); err != nil {
		return nil, nil, err
	}
	if _, err := io.ReadFull(r, k2[:]); err != nil {
		return nil, nil, err
	}
	return zeroNonceAEAD(k1), zeroNonceAEAD(k2), nil
}

func noisePrologue(version uint16) []byte {
	return strconv.AppendUint([]byte(noiseProloguePrefix), uint64(version), 10)
}

// noiseAccept consumes a client's initiation message and returns the response message to send
// and the transport it establishes over conn. Errors name what was wrong with the initiation;
// a caller sends the client nothing more on error.
func noiseAccept(conn net.Conn, serverKey MachinePrivate, init []byte) (response []byte, nc *noiseConn, err error) {
	if len(init) != noiseInitiationLen {
		return nil, nil, fmt.Errorf("handshake initiation is %d bytes, want %d", len(init), noiseInitiationLen)
	}
	version := binary.BigEndian.Uint16(init[0:2])
	if init[2] != noiseMsgInitiation {
		return nil, nil, fmt.Errorf("handshake message type %d, want %d (initiation)", init[2], noiseMsgInitiation)
	}
	if n := binary.BigEndian.Uint16(init[3:5]); n != noiseInitiationBody {
		return nil, nil, fmt.Errorf("handshake initiation length field %d, want %d", n, noiseInitiationBody)
	}
	var clientEphemeral rawKey
	copy(clientEphemeral[:], init[5:37])
	encryptedStatic := init[37:85]
	tag := init[85:101]

	s := newNoiseHandshake()
	s.mixHash(noisePrologue(version))
	serverPublic := serverKey.Public()
	s.mixHash(serverPublic.rawKey[:]) // <- s (pre-message)

	// -> e, es, s, ss
	s.mixHash(clientEphemeral[:])
	k, err := s.mixDH(serverKey.rawKey, clientEphemeral)
	if err != nil {
		return nil, nil, fmt.Errorf("computing es: %v", err)
	}
	staticBytes, err := s.decryptAndHash(k, encryptedStatic)
	if err != nil {
		return nil, nil, errors.New("cannot decrypt the machine key (wrong control key or corrupt initiation)")
	}
	var machine MachinePublic
	copy(machine.rawKey[:], staticBytes)
	if k, err = s.mixDH(serverKey.rawKey, machine.rawKey); err != nil {
		return nil, nil, fmt.Errorf("computing ss: %v", err)
	}
	if _, err := s.decryptAndHash(k, tag); err != nil {
		return nil, nil, errors.New("initiation tag does not verify")
	}

	// <- e, ee, se
	ephemeral := newPrivateKey()
	ephemeralPublic := publicKey(ephemeral)
	s.mixHash(ephemeralPublic[:])
	if _, err := s.mixDH(ephemeral, clientEphemeral); err != nil {
		return nil, nil, fmt.Errorf("computing ee: %v", err)
	}
	if k, err = s.mixDH(ephemeral, machine.rawKey); err != nil {
		return nil, nil, fmt.Errorf("computing se: %v", err)
	}
	response = make([]byte, 0, noiseResponseLen)
	response = append(response, noiseMsgResponse, 0, noiseResponseBody)
	response = append(response, ephemeralPublic[:]...)
	response = append(response, s.encryptAndHash(k, nil)...)

	c1, c2, err := s.split()
	if err != nil {
		return nil, nil, err
	}
	// The initiator sends with the first split key, the responder with the second.
	nc = &noiseConn{conn: conn, version: version, peer: machine}
	nc.rx.aead, nc.tx.aead = c1, c2
	return response, nc, nil
}

// noiseConn carries a byte stream as Noise transport records over conn; it is a net.Conn.
type noiseConn struct {
	conn    net.Conn
	version uint16
	peer    MachinePublic

	rx struct {
		sync.Mutex
		aead      cipher.AEAD
		nonce     uint64
		plaintext []byte // decrypted bytes not yet returned by Read
		buf       [noiseMaxMessageSize]byte
		err       error
	}
	tx struct {
		sync.Mutex
		aead  cipher.AEAD
		nonce uint64
		buf   [noiseMaxMessageSize]byte
		err   error
	}
}

func noiseNonce(n uint64) []byte {
	var nonce [chacha20poly1305.NonceSize]byte
	binary.BigEndian.PutUint64(nonce[4:], n)
	return nonce[:]
}

func (c *noiseConn) Read(p []byte) (int, error) {
	c.rx.Lock()
	defer c.rx.Unlock()
	for len(c.rx.plaintext) == 0 {
		if c.rx.err != nil {
			return 0, c.rx.err
		}
		if err := c.readRecordLocked(); err != nil {
			c.rx.err = err
			return 0, err
		}
	}
	n := copy(p, c.rx.plaintext)
	c.rx.plaintext = c.rx.plaintext[n:]
	return n, nil
}

func (c *noiseConn) readRecordLocked() error {
	hdr := c.rx.buf[:noiseRecordHeaderLen]
	if _, err := io.ReadFull(c.conn, hdr); err != nil {
		return err
	}
	if hdr[0] != noiseMsgRecord {
		return fmt.Errorf("noise: message type %d, want %d (record)", hdr[0], noiseMsgRecord)
	}
	n := int(binary.BigEndian.Uint16(hdr[1:3]))
	if n > noiseMaxCiphertext || n < chacha20poly1305.Overhead {
		return fmt.Errorf("noise: record of %d bytes (allowed %d..%d)", n, chacha20poly1305.Overhead, noiseMaxCiphertext)
	}
	ciphertext := c.rx.buf[noiseRecordHeaderLen : noiseRecordHeaderLen+n]
	if _, err := io.ReadFull(c.conn, ciphertext); err != nil {
		return err
	}
	if c.rx.nonce == noiseNonceExhausted {
		return errors.New("noise: receive nonce exhausted")
	}
	plaintext, err := c.rx.aead.Open(ciphertext[:0], noiseNonce(c.rx.nonce), ciphertext, nil)
	c.rx.nonce++
	if err != nil {
		return errors.New("noise: record does not decrypt")
	}
	c.rx.plaintext = plaintext
	return nil
}

func (c *noiseConn) Write(p []byte) (int, error) {
	c.tx.Lock()
	defer c.tx.Unlock()
	if c.tx.err != nil {
		return 0, c.tx.err
	}
	written := 0
	for len(p) > 0 {
		chunk := p
		if len(chunk) > noiseMaxPlaintext {
			chunk = chunk[:noiseMaxPlaintext]
		}
		if c.tx.nonce == noiseNonceExhausted {
			c.tx.err = errors.New("noise: send nonce exhausted")
			return written, c.tx.err
		}
		buf := c.tx.buf[:noiseRecordHeaderLen]
		buf[0] = noiseMsgRecord
		binary.BigEndian.PutUint16(buf[1:3], uint16(len(chunk)+chacha20poly1305.Overhead))
		record := c.tx.aead.Seal(buf, noiseNonce(c.tx.nonce), chunk, nil)
		c.tx.nonce++
		if _, err := c.conn.Write(record); err != nil {
			c.tx.err = err // a partial record desynchronises the stream: fail every later write
			return written, err
		}
		written += len(chunk)
		p = p[len(chunk):]
	}
	return written, nil
}

func (c *noiseConn) Close() error                       { return c.conn.Close() }
func (c *noiseConn) LocalAddr() net.Addr                { return c.conn.LocalAddr() }
func (c *noiseConn) RemoteAddr() net.Addr               { return c.conn.RemoteAddr() }
func (c *noiseConn) SetDeadline(t time.Time) error      { return c.conn.SetDeadline(t) }
func (c *noiseConn) SetReadDeadline(t time.Time) error  { return c.conn.SetReadDeadline(t) }
func (c *noiseConn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }
