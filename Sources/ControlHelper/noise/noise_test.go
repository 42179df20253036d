package noise

import (
	"bytes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"

	"golang.org/x/crypto/blake2s"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/hkdf"
)

func fixedKey(t *testing.T, seed byte) KeyPair {
	t.Helper()
	var priv [32]byte
	for i := range priv {
		priv[i] = seed + byte(i)
	}
	kp, err := NewKeyPair(priv)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// responder is control's side of the IK handshake, written straight from the Noise spec §5 and §7
// with x/crypto's HKDF (as tailscale's controlbase does), independent of symmetricState above.
type responder struct {
	h, ck [32]byte
}

func (r *responder) mixHash(data []byte) {
	sum := blake2s.Sum256(append(append([]byte(nil), r.h[:]...), data...))
	r.h = sum
}

func (r *responder) mixKey(priv, pub []byte) cipher.AEAD {
	shared, err := curve25519.X25519(priv, pub)
	if err != nil {
		panic(err)
	}
	kdf := hkdf.New(newBLAKE2s, shared, r.ck[:], nil)
	var k [32]byte
	io.ReadFull(kdf, r.ck[:])
	io.ReadFull(kdf, k[:])
	aead, _ := chacha20poly1305.New(k[:])
	return aead
}

// respond consumes an initiation and returns the response plus transport keys (rx = client's tx).
func respond(t *testing.T, control KeyPair, ephemeral KeyPair, init []byte) (resp []byte, clientStatic [32]byte, rx, tx cipher.AEAD) {
	t.Helper()
	if len(init) != 101 || init[2] != 1 || binary.BigEndian.Uint16(init[3:5]) != 96 {
		t.Fatalf("initiation header % x", init[:5])
	}
	version := binary.BigEndian.Uint16(init[0:2])
	r := &responder{}
	r.h = blake2s.Sum256([]byte("Noise_IK_25519_ChaChaPoly_BLAKE2s"))
	r.ck = r.h
	r.mixHash(Prologue(version))
	r.mixHash(control.Public[:])
	ce := init[5:37]
	r.mixHash(ce)
	aead := r.mixKey(control.Private[:], ce)
	static, err := aead.Open(nil, make([]byte, 12), init[37:85], r.h[:])
	if err != nil {
		t.Fatalf("responder cannot open the machine key: %v", err)
	}
	r.mixHash(init[37:85])
	copy(clientStatic[:], static)
	aead = r.mixKey(control.Private[:], static)
	if _, err := aead.Open(nil, make([]byte, 12), init[85:101], r.h[:]); err != nil {
		t.Fatalf("responder: initiation tag: %v", err)
	}
	r.mixHash(init[85:101])

	resp = make([]byte, 3, 51)
	resp[0] = 2
	binary.BigEndian.PutUint16(resp[1:3], 48)
	resp = append(resp, ephemeral.Public[:]...)
	r.mixHash(ephemeral.Public[:])
	r.mixKey(ephemeral.Private[:], ce)
	aead = r.mixKey(ephemeral.Private[:], static)
	tag := aead.Seal(nil, make([]byte, 12), nil, r.h[:])
	resp = append(resp, tag...)
	kdf := hkdf.New(newBLAKE2s, nil, r.ck[:], nil)
	var k1, k2 [32]byte
	io.ReadFull(kdf, k1[:])
	io.ReadFull(kdf, k2[:])
	rx, _ = chacha20poly1305.New(k1[:])
	tx, _ = chacha20poly1305.New(k2[:])
	return resp, clientStatic, rx, tx
}

func TestHKDFIsNoiseHKDFWithBLAKE2s(t *testing.T) {
	var ck [32]byte
	copy(ck[:], "chaining key for the hkdf check.")
	input := []byte("input key material")
	o1, o2 := hkdf2(ck, input)
	kdf := hkdf.New(newBLAKE2s, input, ck[:], nil)
	var w1, w2 [32]byte
	io.ReadFull(kdf, w1[:])
	io.ReadFull(kdf, w2[:])
	if o1 != w1 || o2 != w2 {
		t.Fatalf("hkdf2 differs from x/crypto/hkdf")
	}
}

func TestInitiationLayoutAndPrologue(t *testing.T) {
	machine, control, eph := fixedKey(t, 1), fixedKey(t, 50), fixedKey(t, 100)
	init, err := Initiate(machine, control.Public, 130, eph)
	if err != nil {
		t.Fatal(err)
	}
	m := init.Message
	if len(m) != 101 || binary.BigEndian.Uint16(m[0:2]) != 130 || m[2] != 1 || binary.BigEndian.Uint16(m[3:5]) != 96 {
		t.Fatalf("header % x", m[:5])
	}
	if !bytes.Equal(m[5:37], eph.Public[:]) {
		t.Fatal("ephemeral key is not sent in the clear at offset 5")
	}
	if string(Prologue(130)) != "Tailscale Control Protocol v130" {
		t.Fatalf("prologue %q", Prologue(130))
	}
}

func TestHandshakeAgainstSpecResponderAndTransport(t *testing.T) {
	machine, control := fixedKey(t, 1), fixedKey(t, 50)
	init, err := Initiate(machine, control.Public, 130, fixedKey(t, 100))
	if err != nil {
		t.Fatal(err)
	}
	resp, static, srvRx, srvTx := respond(t, control, fixedKey(t, 150), init.Message)
	if static != machine.Public {
		t.Fatal("responder decrypted a different machine key")
	}
	tx, rx, err := init.Finish(bytes.NewReader(resp))
	if err != nil {
		t.Fatal(err)
	}

	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	conn := NewConn(client, nil, tx, rx)

	// Client → server: records of at most 4096 bytes, nonce = 4 zero bytes + u64 big-endian counter.
	payload := bytes.Repeat([]byte("0123456789abcdef"), 600) // 9600 bytes: three records
	go conn.Write(payload)
	var got []byte
	for counter := uint64(0); len(got) < len(payload); counter++ {
		hdr := make([]byte, 3)
		if _, err := io.ReadFull(server, hdr); err != nil {
			t.Fatal(err)
		}
		n := int(binary.BigEndian.Uint16(hdr[1:]))
		if hdr[0] != 4 || n+3 > MaxMessageSize {
			t.Fatalf("record header % x", hdr)
		}
		body := make([]byte, n)
		io.ReadFull(server, body)
		var nonce [12]byte
		binary.BigEndian.PutUint64(nonce[4:], counter)
		plain, err := srvRx.Open(nil, nonce[:], body, nil)
		if err != nil {
			t.Fatalf("record %d does not open with the big-endian counter nonce: %v", counter, err)
		}
		got = append(got, plain...)
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("payload differs")
	}

	// Server → client, including an empty record the reader must skip.
	var wire []byte
	var n nonce
	for _, msg := range [][]byte{{}, []byte("hello"), []byte(" world")} {
		wire, _ = sealRecord(wire, srvTx, &n, msg)
	}
	go server.Write(wire)
	buf := make([]byte, 11)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "hello world" {
		t.Fatalf("read %q, %v", buf, err)
	}
}

func TestFinishRejectsWrongControlKey(t *testing.T) {
	machine, control, impostor := fixedKey(t, 1), fixedKey(t, 50), fixedKey(t, 77)
	init, _ := Initiate(machine, control.Public, 130, fixedKey(t, 100))
	// An impostor without control's private key cannot produce a response that authenticates.
	resp := make([]byte, 3, 51)
	resp[0] = 2
	binary.BigEndian.PutUint16(resp[1:3], 48)
	resp = append(resp, impostor.Public[:]...)
	resp = append(resp, make([]byte, 16)...)
	if _, _, err := init.Finish(bytes.NewReader(resp)); err == nil {
		t.Fatal("a forged response was accepted")
	}
}

func TestFinishReportsControlErrorMessage(t *testing.T) {
	init, _ := Initiate(fixedKey(t, 1), fixedKey(t, 50).Public, 130, fixedKey(t, 100))
	msg := []byte{3, 0, 5, 'n', 'o', 'p', 'e', '!'}
	_, _, err := init.Finish(bytes.NewReader(msg))
	var refused *ErrServerRefused
	if !errors.As(err, &refused) || refused.Message != "nope!" {
		t.Fatalf("err = %v", err)
	}
	for _, bad := range [][]byte{{2, 0, 47}, {9, 0, 48}, {2, 0}} {
		if _, _, err := init.Finish(bytes.NewReader(append(bad, make([]byte, 60)...))); err == nil {
			t.Fatalf("response % x accepted", bad)
		}
	}
}

func transportPair(t *testing.T) (client *Conn, server net.Conn, srvTx cipher.AEAD) {
	t.Helper()
	machine, control := fixedKey(t, 1), fixedKey(t, 50)
	init, _ := Initiate(machine, control.Public, 130, fixedKey(t, 100))
	resp, _, _, stx := respond(t, control, fixedKey(t, 150), init.Message)
	tx, rx, err := init.Finish(bytes.NewReader(resp))
	if err != nil {
		t.Fatal(err)
	}
	c, s := net.Pipe()
	t.Cleanup(func() { c.Close(); s.Close() })
	return NewConn(c, nil, tx, rx), s, stx
}

func TestReadRejectsTamperedOversizeAndMistypedRecords(t *testing.T) {
	cases := map[string]func(srvTx cipher.AEAD) []byte{
		"tampered": func(srvTx cipher.AEAD) []byte {
			var n nonce
			rec, _ := sealRecord(nil, srvTx, &n, []byte("secret"))
			rec[5] ^= 1
			return rec
		},
		"oversize": func(cipher.AEAD) []byte { return []byte{4, 0x10, 0x00} }, // 4096 > 4093
		"mistyped": func(srvTx cipher.AEAD) []byte {
			var n nonce
			rec, _ := sealRecord(nil, srvTx, &n, []byte("x"))
			rec[0] = 2
			return rec
		},
		"replayed nonce": func(srvTx cipher.AEAD) []byte {
			var n nonce
			rec, _ := sealRecord(nil, srvTx, &n, []byte("a"))
			return append(append([]byte(nil), rec...), rec...)
		},
	}
	for name, build := range cases {
		t.Run(name, func(t *testing.T) {
			conn, server, srvTx := transportPair(t)
			go server.Write(build(srvTx))
			buf := make([]byte, 64)
			if name == "replayed nonce" {
				if n, err := conn.Read(buf); err != nil || string(buf[:n]) != "a" {
					t.Fatalf("first record: %q %v", buf[:n], err)
				}
			}
			if _, err := conn.Read(buf); err == nil {
				t.Fatal("accepted")
			}
			if _, err := conn.Read(buf); err == nil {
				t.Fatal("a read after a failed record succeeded")
			}
		})
	}
}
