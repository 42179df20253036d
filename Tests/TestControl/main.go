// Command testcontrol is a small Tailscale-compatible coordination server for tests and labs:
// auth keys, address allocation, the ts2021 Noise transport with HTTP/2, register and the
// streaming map with deltas, ephemeral nodes, a packet-filter policy, and optional state on disk.
//
//	testcontrol --listen 127.0.0.1:9911 --authkey KEY [--authkey KEY ...] [--state DIR]
//
// It prints "ready http://HOST:PORT" on stdout once it accepts connections and logs to stderr.
// Docs/control-plane.md ("The test control server") lists every flag and admin endpoint.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"wirenet/Tests/TestControl/derp"
)

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

type flagParseError struct{ error }

type options struct {
	listen          string
	authKeys        stringList
	oneOffKeys      stringList
	expiredKeys     stringList
	stateDir        string
	domain          string
	policyFile      string
	syntheticPeers  int
	keepAlive       time.Duration
	keepAliveJitter time.Duration
	ephemeralGrace  time.Duration
	derp            bool
}

func parseOptions(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("testcontrol", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:9911", "`HOST:PORT` to serve on (port 0 picks a free one)")
	fs.Var(&o.authKeys, "authkey", "a reusable auth `KEY` (repeatable)")
	fs.Var(&o.oneOffKeys, "authkey-oneoff", "an auth `KEY` that admits one node (repeatable)")
	fs.Var(&o.expiredKeys, "authkey-expired", "an auth `KEY` that is refused as expired (repeatable)")
	fs.StringVar(&o.stateDir, "state", "", "`DIR` that keeps keys and nodes across restarts (none: in memory)")
	fs.StringVar(&o.domain, "domain", "tailnet.test", "the tailnet's DNS `DOMAIN`; nodes are HOST.DOMAIN.")
	fs.StringVar(&o.policyFile, "policy", "", "`FILE` with a JSON list of filter rules (default: allow all); SIGHUP re-reads it")
	fs.IntVar(&o.syntheticPeers, "synthetic-peers", 0, "add `N` synthetic peers at start (scale tests)")
	fs.DurationVar(&o.keepAlive, "keepalive", 50*time.Second, "base interval between map keep-alives")
	fs.DurationVar(&o.keepAliveJitter, "keepalive-jitter", 8*time.Second, "random extra added to each keep-alive interval")
	fs.DurationVar(&o.ephemeralGrace, "ephemeral-grace", 30*time.Second, "how long an ephemeral node may be without a map stream before it is removed")
	fs.BoolVar(&o.derp, "derp", false, "relay DERP at /derp on the same port (TLS with a self-signed certificate, and plain HTTP) and announce it as region 900")
	if err := fs.Parse(args); err != nil {
		return nil, flagParseError{err} // the flag package has printed it with the usage
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	host, port, err := net.SplitHostPort(o.listen)
	if err != nil {
		return nil, fmt.Errorf("--listen %q: want HOST:PORT, e.g. 127.0.0.1:9911", o.listen)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return nil, fmt.Errorf("--listen %q: port %q is not a number from 0 to 65535", o.listen, port)
	}
	if host == "" {
		return nil, fmt.Errorf("--listen %q: give a host, e.g. 127.0.0.1 or 0.0.0.0", o.listen)
	}
	if ip := net.ParseIP(host); o.derp && (ip == nil || ip.IsUnspecified()) {
		return nil, fmt.Errorf("--derp needs --listen with the IP address clients reach (the DERP map names it), not %q", host)
	}
	for _, k := range append(append(append([]string{}, o.authKeys...), o.oneOffKeys...), o.expiredKeys...) {
		if strings.TrimSpace(k) == "" || strings.ContainsAny(k, " \t\r\n") {
			return nil, fmt.Errorf("auth key %q: must be non-empty without white space", k)
		}
	}
	if strings.Trim(o.domain, ".") == "" || strings.ContainsAny(o.domain, " /") {
		return nil, fmt.Errorf("--domain %q is not a DNS domain", o.domain)
	}
	o.domain = strings.Trim(o.domain, ".")
	if o.syntheticPeers < 0 || o.syntheticPeers > maxSynthetic {
		return nil, fmt.Errorf("--synthetic-peers %d is outside 0…%d", o.syntheticPeers, maxSynthetic)
	}
	if o.keepAlive < 0 || o.keepAliveJitter < 0 {
		return nil, errors.New("--keepalive and --keepalive-jitter must not be negative")
	}
	if o.ephemeralGrace < 0 {
		return nil, errors.New("--ephemeral-grace must not be negative")
	}
	return o, nil
}

// ---------------------------------------------------------------------------------------------
// The DERP map. This is the one place it is built.
//
// Without a relay the map is absent: nodes reach each other only over direct UDP. When package
// wirenet/Tests/TestControl/derp is wired in (flag --derp), this server relays DERP itself at
// GET /derp on its own listener, and the map names it: region 900 "test", one node with the
// listen host and port, no STUN, and InsecureForTests (self-signed TLS).
// ---------------------------------------------------------------------------------------------
func buildDERPMap(listen net.Addr, relay bool) *DERPMap {
	if !relay {
		return nil
	}
	tcp, _ := listen.(*net.TCPAddr)
	if tcp == nil {
		return nil
	}
	host := tcp.IP.String()
	node := &DERPNode{Name: "900a", RegionID: 900, HostName: host, DERPPort: tcp.Port, STUNPort: -1, InsecureForTests: true}
	if tcp.IP.To4() != nil {
		node.IPv4 = host
	} else {
		node.IPv6 = host
	}
	return &DERPMap{Regions: map[int]*DERPRegion{
		900: {RegionID: 900, RegionCode: "test", RegionName: "WireNet test relay", Nodes: []*DERPNode{node}},
	}}
}

// serveSignals re-reads the policy on SIGHUP (when reload is set) and, on SIGINT or SIGTERM, saves
// the state and returns the exit status.
func serveSignals(signals <-chan os.Signal, reload func() error, flush func() error, logf func(string, ...interface{})) int {
	for sig := range signals {
		if sig == syscall.SIGHUP {
			if reload == nil {
				logf("SIGHUP: no --policy file to re-read")
			} else if err := reload(); err != nil {
				logf("SIGHUP: policy not changed: %v", err)
			}
			continue
		}
		logf("%v: stopping", sig)
		if err := flush(); err != nil {
			logf("saving state: %v", err)
			return 1
		}
		return 0
	}
	return 0
}

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix("testcontrol: ")
	o, err := parseOptions(os.Args[1:])
	if fe, ok := err.(flagParseError); ok {
		if fe.error == flag.ErrHelp {
			os.Exit(0)
		}
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "testcontrol: %v\n", err)
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "testcontrol: %v\n", err)
		os.Exit(1)
	}
}

func run(o *options) error {
	logf := log.Printf
	policy := allowAllPolicy()
	if o.policyFile != "" {
		var err error
		if policy, err = loadPolicyFile(o.policyFile); err != nil {
			return err
		}
	}

	var st *stateFile
	var err error
	if o.stateDir != "" {
		if st, err = loadState(o.stateDir); err != nil {
			return err
		}
	} else {
		st = &stateFile{Version: 1, NoiseKey: MachinePrivate{newPrivateKey()}, LegacyKey: MachinePrivate{newPrivateKey()}, NextID: 1, NextAddr: 1}
	}

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %v", o.listen, err)
	}
	tn := newTailnet(tailnetConfig{
		Domain: o.domain, EphemeralGrace: o.ephemeralGrace, Logf: logf,
		DERPMap: buildDERPMap(ln.Addr(), o.derp),
	})
	extra := map[string]http.Handler{}
	if o.derp {
		host, _, _ := net.SplitHostPort(o.listen)
		tlsConfig, err := derp.SelfSignedTLSConfig([]string{host})
		if err != nil {
			return fmt.Errorf("DERP certificate: %v", err)
		}
		relay := derp.NewServer(logf) // its messages start with "derp:"
		extra["/derp"] = relay
		// Latency probes of tailscale's netcheck (derphttp.ProbeHandler): an empty 200.
		probe := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Access-Control-Allow-Origin", "*")
			w.WriteHeader(http.StatusOK)
		})
		extra["/derp/probe"], extra["/derp/latency-check"] = probe, probe
		ln = derp.NewSniffingListener(ln, tlsConfig)
		pub := relay.PublicKey()
		logf("DERP relay at /derp (TLS and plain HTTP), region 900, key %x", pub[:])
	}
	tn.policy = policy
	if err := st.restore(tn); err != nil {
		return err
	}
	for _, k := range o.authKeys {
		tn.addAuthKey(k, authKeyReusable)
	}
	for _, k := range o.oneOffKeys {
		tn.addAuthKey(k, authKeyOneOff)
	}
	for _, k := range o.expiredKeys {
		tn.addAuthKey(k, authKeyExpired)
	}
	if len(o.authKeys)+len(o.oneOffKeys) == 0 {
		logf("no usable auth key given (--authkey): only nodes from --state can log in")
	}

	var store *stateStore
	if o.stateDir != "" {
		store = &stateStore{path: filepath.Join(o.stateDir, stateFileName), noiseKey: st.NoiseKey,
			legacyKey: st.LegacyKey, tailnet: tn, logf: logf}
		tn.mu.Lock()
		tn.onDirty = store.requestSave
		tn.mu.Unlock()
		if err := store.flush(); err != nil {
			return fmt.Errorf("writing state: %v", err)
		}
	}
	if o.syntheticPeers > 0 {
		if _, err := tn.addSynthetic(o.syntheticPeers); err != nil {
			return err
		}
	}

	srv := &controlServer{
		tailnet: tn, noiseKey: st.NoiseKey, legacyKey: st.LegacyKey, logf: logf, extra: extra,
		mapSettings: mapSettings{KeepAlive: o.keepAlive, KeepAliveJitter: o.keepAliveJitter},
	}
	if o.policyFile != "" {
		srv.reloadPolicy = func() error {
			rules, err := loadPolicyFile(o.policyFile)
			if err != nil {
				return err
			}
			tn.setPolicy(rules)
			return nil
		}
	}

	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	flush := func() error { return nil }
	if store != nil {
		flush = store.flush
	}
	go func() { os.Exit(serveSignals(signals, srv.reloadPolicy, flush, logf)) }()

	httpServer := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 30 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(os.Stderr, "testcontrol: http: ", log.LstdFlags),
	}
	logf("serving on %s, domain %s, %d nodes from state", ln.Addr(), o.domain, len(st.Nodes))
	fmt.Printf("ready http://%s\n", ln.Addr())
	os.Stdout.Sync()
	return httpServer.Serve(ln)
}
