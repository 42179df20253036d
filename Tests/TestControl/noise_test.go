package main

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"io"
	"net"
	"testing"
)

// handshakePair runs the handshake over an in-memory pipe and returns client and server conns.
func handshakePair(t *testing.T) (client, server *noiseConn) {
	t.Helper()
	serverKey := MachinePrivate{newPrivateKey()}
	machine := MachinePrivate{newPrivateKey()}
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	init, finish := noiseInitiate(machine, serverKey.Public(), 145)
	resp, server, err := noiseAccept(b, serverKey, init)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp) != noiseResponseLen {
		t.Fatalf("response is %d bytes, want %d", len(resp), noiseResponseLen)
	}
	if server.peer != machine.Public() {
		t.Fatal("server learned the wrong machine key")
	}
	client, err = finish(a, resp)
	if err != nil {
		t.Fatal(err)
	}
	return client, server
}

func TestNoiseRecordsCarryAStreamBothWaysInFramesOfAtMost4096Bytes(t *testing.T) {
	client, server := handshakePair(t)
	payload := make([]byte, 3*noiseMaxPlaintext+17)
	rand.Read(payload)

	// Capture what goes over the wire from the client to check the framing.
	wire := make(chan []byte, 1)
	go func() {
		buf := make([]byte, len(payload)+10*noiseMaxMessageSize)
		var got []byte
		for len(got) < len(payload)+4*(noiseRecordHeaderLen+16) {
			n, err := server.conn.Read(buf)
			if err != nil {
				break
			}
			got = append(got, buf[:n]...)
		}
		wire <- got
	}()
	if _, err := client.Write(payload); err != nil {
		t.Fatal(err)
	}
	raw := <-wire
	var records int
	var plaintext []byte
	for len(raw) > 0 {
		if raw[0] != noiseMsgRecord {
			t.Fatalf("record type %d", raw[0])
		}
		n := int(binary.BigEndian.Uint16(raw[1:3]))
		if noiseRecordHeaderLen+n > noiseMaxMessageSize {
			t.Fatalf("record of %d bytes exceeds %d", noiseRecordHeaderLen+n, noiseMaxMessageSize)
		}
		// Decrypt with the server's receive state, as Read would.
		ct := append([]byte(nil), raw[3:3+n]...)
		pt, err := server.rx.aead.Open(nil, noiseNonce(uint64(records)), ct, nil)
		if err != nil {
			t.Fatalf("record %d does not open with nonce %d: %v", records, records, err)
		}
		plaintext = append(plaintext, pt...)
		records++
		raw = raw[3+n:]
	}
	if records != 4 || !bytes.Equal(plaintext, payload) {
		t.Fatalf("%d records carrying %d bytes, want 4 carrying %d", records, len(plaintext), len(payload))
	}

	// And server → client through Read.
	go server.Write(payload)
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("server → client payload differs")
	}
}

func TestNoiseTamperedRecordFailsTheConnection(t *testing.T) {
	client, server := handshakePair(t)
	go func() {
		var rec [noiseRecordHeaderLen + 5 + 16]byte
		rec[0] = noiseMsgRecord
		binary.BigEndian.PutUint16(rec[1:3], 5+16)
		sealed := client.tx.aead.Seal(nil, noiseNonce(0), []byte("hello"), nil)
		copy(rec[3:], sealed)
		rec[5] ^= 1
		client.conn.Write(rec[:])
	}()
	if _, err := server.Read(make([]byte, 10)); err == nil {
		t.Fatal("a tampered record was accepted")
	}
	if _, err := server.Read(make([]byte, 10)); err == nil {
		t.Fatal("the connection kept reading after a bad record")
	}
}

func TestNoiseOversizeRecordLengthIsRefusedBeforeReadingIt(t *testing.T) {
	_, server := handshakePair(t)
	client := server.conn // the raw pipe end is the server's; write from the other side
	_ = client
	a, b := net.Pipe()
	defer a.Close()
	server.conn = b
	go a.Write([]byte{noiseMsgRecord, 0xff, 0xff})
	if _, err := server.Read(make([]byte, 10)); err == nil {
		t.Fatal("a 65535-byte record length was accepted")
	}
}

func TestNoiseAcceptRefusesMalformedInitiations(t *testing.T) {
	serverKey := MachinePrivate{newPrivateKey()}
	good, _ := noiseInitiate(MachinePrivate{newPrivateKey()}, serverKey.Public(), 145)
	wrongKey, _ := noiseInitiate(MachinePrivate{newPrivateKey()}, MachinePublic{publicKey(newPrivateKey())}, 145)
	mutate := func(i int, v byte) []byte { b := append([]byte(nil), good...); b[i] = v; return b }
	cases := map[string][]byte{
		"empty":              nil,
		"short":              good[:100],
		"long":               append(append([]byte(nil), good...), 0),
		"wrong type":         mutate(2, noiseMsgRecord),
		"wrong length field": mutate(4, 95),
		"corrupt static":     mutate(40, good[40]^1),
		"corrupt tag":        mutate(100, good[100]^1),
		"version not signed": mutate(1, good[1]^1), // the prologue covers the version
		"for another server": wrongKey,
		"zero ephemeral":     append(append(append([]byte(nil), good[:5]...), make([]byte, 32)...), good[37:]...),
	}
	for name, init := range cases {
		if _, _, err := noiseAccept(nil, serverKey, init); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, _, err := noiseAccept(nil, serverKey, good); err != nil {
		t.Fatalf("the unmodified initiation was refused: %v", err)
	}
}

func FuzzNoiseAccept(f *testing.F) {
	serverKey := MachinePrivate{newPrivateKey()}
	good, _ := noiseInitiate(MachinePrivate{newPrivateKey()}, serverKey.Public(), 145)
	f.Add(good)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, init []byte) {
		noiseAccept(nil, serverKey, init) // must not panic
	})
}

func TestKeysRoundTripTheirTextFormAndRefuseOtherPrefixes(t *testing.T) {
	k := NodePublic{publicKey(newPrivateKey())}
	text, _ := k.MarshalText()
	var back NodePublic
	if err := back.UnmarshalText(text); err != nil || back != k {
		t.Fatalf("%s: %v", text, err)
	}
	var d DiscoPublic
	for _, bad := range []string{"mkey:" + string(text[8:]), "discokey:abc", "discokey:" + string(text[8:])[:62] + "zz"} {
		if err := d.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := d.UnmarshalText(nil); err != nil || !d.isZero() {
		t.Fatal("an empty key is not the zero key")
	}
}
