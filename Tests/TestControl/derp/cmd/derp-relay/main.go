// Command derp-relay runs the WireNet test DERP relay on its own: one port that
// answers TLS (self-signed certificate) and plain HTTP, with the relay at /derp
// and its counters at /derp/stats. For tests of DERP clients until the test
// control server serves the relay itself.
//
//	derp-relay -listen 127.0.0.1:0 [-hosts 127.0.0.1] [-cert-out relay.pem] [-keepalive 60s]
//
// Once listening it prints one line to stdout:
//
//	ready addr=127.0.0.1:41234 key=<relay public key, 64 hex digits>
//
// and runs until SIGINT/SIGTERM or stdin closes (when -stdin-close is set).
package main

import (
	"encoding/hex"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"wirenet/Tests/TestControl/derp"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "TCP address to listen on (TLS and plain HTTP on one port)")
	hosts := flag.String("hosts", "", "comma-separated names/IPs for the certificate (default: the listen host)")
	certOut := flag.String("cert-out", "", "write the self-signed certificate (PEM) to this file")
	keepAlive := flag.Duration("keepalive", derp.DefaultKeepAliveInterval, "interval of KeepAlive frames to clients")
	verbose := flag.Bool("v", false, "log connection events to stderr")
	stdinClose := flag.Bool("stdin-close", false, "exit when stdin reaches EOF (lets a parent test process own the relay)")
	flag.Parse()

	if err := run(*listen, *hosts, *certOut, *keepAlive, *verbose, *stdinClose); err != nil {
		fmt.Fprintln(os.Stderr, "derp-relay:", err)
		os.Exit(1)
	}
}

func run(listen, hosts, certOut string, keepAlive time.Duration, verbose, stdinClose bool) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	hostList := splitHosts(hosts)
	if len(hostList) == 0 {
		host, _, _ := net.SplitHostPort(ln.Addr().String())
		hostList = []string{host}
	}
	cfg, err := derp.SelfSignedTLSConfig(hostList)
	if err != nil {
		return err
	}
	if certOut != "" {
		block := &pem.Block{Type: "CERTIFICATE", Bytes: cfg.Certificates[0].Certificate[0]}
		if err := os.WriteFile(certOut, pem.EncodeToMemory(block), 0o644); err != nil {
			return err
		}
	}

	logf := func(string, ...any) {}
	if verbose {
		logf = log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds).Printf
	}
	relay := derp.NewServer(logf)
	relay.KeepAliveInterval = keepAlive
	defer relay.Close()

	mux := http.NewServeMux()
	mux.Handle("/derp", relay)
	mux.Handle("/derp/stats", relay.StatsHandler())
	// Clients measure relay latency over HTTPS when they cannot use STUN.
	mux.Handle("/derp/probe", derp.LatencyCheckHandler())
	mux.Handle("/derp/latency-check", derp.LatencyCheckHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	sniffing := derp.NewSniffingListener(ln, cfg)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(sniffing) }()

	key := relay.PublicKey()
	fmt.Printf("ready addr=%s key=%s\n", ln.Addr(), hex.EncodeToString(key[:]))

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	stdinEOF := make(chan struct{})
	if stdinClose {
		go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(stdinEOF) }()
	}
	select {
	case err := <-serveErr:
		return err
	case <-stop:
	case <-stdinEOF:
	}
	_ = srv.Close()
	return nil
}

func splitHosts(s string) []string {
	var out []string
	for _, h := range strings.Split(s, ",") {
		if h = strings.TrimSpace(h); h != "" {
			out = append(out, h)
		}
	}
	return out
}
