package derp

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// serveSniffing serves a handler that reports whether the request came over TLS.
func serveSniffing(t *testing.T) (addr string, cfg *tls.Config, ln net.Listener) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err = SelfSignedTLSConfig([]string{"127.0.0.1", "relay.test"})
	if err != nil {
		t.Fatal(err)
	}
	ln = NewSniffingListener(inner, cfg)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			io.WriteString(w, "tls")
		} else {
			io.WriteString(w, "plain")
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return inner.Addr().String(), cfg, ln
}

func get(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestSniffingListenerServesTLSAndPlainHTTPOnOnePort(t *testing.T) {
	addr, cfg, _ := serveSniffing(t)
	// A client that pins the self-signed certificate verifies it for the IP SAN.
	roots := x509.NewCertPool()
	roots.AddCert(cfg.Certificates[0].Leaf)
	pinned := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	if got := get(t, pinned, "https://"+addr+"/"); got != "tls" {
		t.Fatalf("https answered %q", got)
	}
	if got := get(t, http.DefaultClient, "http://"+addr+"/"); got != "plain" {
		t.Fatalf("http answered %q", got)
	}
}

func TestSelfSignedCertificateNamesItsHosts(t *testing.T) {
	cfg, err := SelfSignedTLSConfig([]string{"127.0.0.1", "::1", "relay.test"})
	if err != nil {
		t.Fatal(err)
	}
	leaf := cfg.Certificates[0].Leaf
	for _, h := range []string{"127.0.0.1", "::1", "relay.test"} {
		if err := leaf.VerifyHostname(h); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
	if len(leaf.IPAddresses) != 2 || len(leaf.DNSNames) != 1 {
		t.Errorf("SANs: IPs %v, names %v", leaf.IPAddresses, leaf.DNSNames)
	}
	if _, err := SelfSignedTLSConfig(nil); err == nil {
		t.Error("no hosts accepted")
	}
}

func TestSilentConnectionDoesNotDelayOthers(t *testing.T) {
	addr, _, _ := serveSniffing(t)
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	c := &http.Client{Timeout: 2 * time.Second}
	if got := get(t, c, "http://"+addr+"/"); got != "plain" {
		t.Fatalf("answered %q", got)
	}
}

func TestSniffingListenerCloseEndsAccept(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := NewSniffingListener(inner, nil)
	errc := make(chan error, 1)
	go func() { _, err := ln.Accept(); errc <- err }()
	ln.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Accept returned a connection after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still blocked after Close")
	}
}
