package control

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"wirenet/Sources/ControlHelper/noise"
	"wirenet/Sources/ControlHelper/tailcfg"
)

const (
	// mapWatchdog: reconnect when the map stream is silent this long (tailscale direct.go
	// watchdog; servers send keep-alives about every minute).
	mapWatchdog = 2 * time.Minute
	// Reconnect backoff: doubles from backoffMin to backoffMax, then a random point in the upper
	// half of that (jitter, so a restarted control server is not hit by every node at once).
	backoffMin = 500 * time.Millisecond
	backoffMax = 30 * time.Second
)

// Client is one node's login and map poll. Methods are safe to call from any goroutine.
type Client struct {
	cfg     *Config
	machine noise.KeyPair
	ep      controlEndpoint
	sink    Sink
	now     func() time.Time

	watchdog   time.Duration
	backoffMin time.Duration
	backoffMax time.Duration

	ctx    context.Context // cancelled by Stop
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine of this client

	runCancel context.CancelFunc // ends the run loop (logout)
	runDone   chan struct{}

	mu        sync.Mutex
	endpoints []string
	discoKey  string
	// preferredDERP is the home DERP region the Swift side chose (0: none), sent in Hostinfo.NetInfo.
	preferredDERP atomic.Int64
	updateWake    chan struct{}
	registered    bool
	// loggingOut is closed when a Logout in flight finishes; nil when none is.
	loggingOut chan struct{}
	random     *rand.Rand

	loggedOut atomic.Bool
	stopped   atomic.Bool
}

// New validates nothing more than ParseConfig did; it loads or creates the machine key.
func New(cfg *Config, sink Sink) (*Client, error) {
	machine, err := LoadOrCreateMachineKey(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	ep, err := parseEndpoint(cfg.ControlURL)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Client{
		cfg: cfg, machine: machine, ep: ep, sink: sink, now: time.Now,
		watchdog: mapWatchdog, backoffMin: backoffMin, backoffMax: backoffMax,
		ctx: ctx, cancel: cancel,
		endpoints:  append([]string(nil), cfg.Endpoints...),
		discoKey:   cfg.DiscoKey,
		updateWake: make(chan struct{}, 1),
		random:     rand.New(rand.NewSource(randomSeed())),
	}, nil
}

// MachinePublicKey is the machine key's public half ("mkey:<hex>").
func (c *Client) MachinePublicKey() string {
	return tailcfg.FormatKey(c.machine.Public, tailcfg.MachinePublicPrefix)
}

// Start begins login and the map poll in the background.
func (c *Client) Start() {
	runCtx, runCancel := context.WithCancel(c.ctx)
	c.runCancel = runCancel
	c.runDone = make(chan struct{})
	done := c.runDone
	c.goSafely("control loop", func() {
		defer close(done)
		c.run(runCtx)
	})
}

// Update records new endpoints and disco key and wakes the session's update sender.
func (c *Client) Update(u *Update) {
	c.mu.Lock()
	c.endpoints = append([]string(nil), u.Endpoints...)
	if u.DiscoKey != "" {
		c.discoKey = u.DiscoKey
	}
	if u.PreferredDERP > 0 {
		c.preferredDERP.Store(int64(u.PreferredDERP))
	}
	c.mu.Unlock()
	select {
	case c.updateWake <- struct{}{}:
	default:
	}
}

// Stop ends every goroutine of the client and waits for them. Idempotent.
func (c *Client) Stop() {
	c.stopped.Store(true)
	c.cancel()
	c.wg.Wait()
}

// terminalError ends the run loop with state refused.
type terminalError struct{ message string }

func (e *terminalError) Error() string { return e.message }

func refused(format string, args ...interface{}) error {
	return &terminalError{message: fmt.Sprintf(format, args...)}
}

func (c *Client) run(ctx context.Context) {
	attempt := 0
	for ctx.Err() == nil {
		delivered := false
		err := safely(func() error { return c.session(ctx, &delivered) })
		if ctx.Err() != nil || c.loggedOut.Load() {
			return
		}
		// Control ends the map stream when it processes a logout: wait for the logout's outcome
		// instead of reporting a reconnect.
		c.mu.Lock()
		pending := c.loggingOut
		c.mu.Unlock()
		if pending != nil {
			select {
			case <-pending:
			case <-ctx.Done():
				return
			}
			if c.loggedOut.Load() || ctx.Err() != nil {
				return
			}
		}
		var term *terminalError
		if errors.As(err, &term) {
			c.emitState(StateRefused, term.message, 0)
			return
		}
		var pe *panicError
		if errors.As(err, &pe) {
			c.logf("error", "%v\n%s", pe, pe.stack)
		}
		if delivered {
			attempt = 0
		}
		delay := c.backoff(attempt)
		attempt++
		c.emitState(StateReconnecting, errorMessage(err), delay.Milliseconds())
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

func errorMessage(err error) string {
	if err == nil {
		return "control ended the map stream"
	}
	return err.Error()
}

func (c *Client) backoff(attempt int) time.Duration {
	d := c.backoffMin
	for i := 0; i < attempt && d < c.backoffMax; i++ {
		d *= 2
	}
	if d > c.backoffMax {
		d = c.backoffMax
	}
	half := d / 2
	c.mu.Lock()
	defer c.mu.Unlock()
	return half + time.Duration(c.random.Int63n(int64(half)+1))
}

// randomSeed seeds the jitter source per client, so nodes restarted together do not retry in step.
func randomSeed() int64 {
	var b [8]byte
	if _, err := crand.Read(b[:]); err != nil {
		return time.Now().UnixNano()
	}
	return int64(binary.LittleEndian.Uint64(b[:]))
}

// session is one connection to control: key, ts2021, register if needed, update sender, map poll.
func (c *Client) session(ctx context.Context, delivered *bool) error {
	c.mu.Lock()
	needRegister := !c.registered
	c.mu.Unlock()
	if needRegister {
		c.emitState(StateRegistering, "logging in to "+c.cfg.ControlURL, 0)
	}
	controlKey, err := fetchControlKey(ctx, c.ep)
	if err != nil {
		return err
	}
	nc, err := newNoiseClient(ctx, c.ep, c.machine, controlKey)
	if err != nil {
		return err
	}
	sessionCtx, endSession := context.WithCancel(ctx)
	defer func() {
		endSession()
		nc.Close()
	}()
	if needRegister {
		if err := c.register(sessionCtx, nc); err != nil {
			return err
		}
		c.mu.Lock()
		c.registered = true
		c.mu.Unlock()
	}
	updaterDone := make(chan struct{})
	c.goSafely("endpoint updates", func() {
		defer close(updaterDone)
		c.sendUpdates(sessionCtx, nc)
	})
	defer func() { endSession(); <-updaterDone }()
	return c.pollMap(sessionCtx, nc, delivered)
}

func (c *Client) hostinfo() *tailcfg.Hostinfo {
	hi := &tailcfg.Hostinfo{IPNVersion: "wirenet-control/1", OS: c.cfg.OS, Hostname: c.cfg.Hostname, App: c.cfg.AppName}
	if region := c.preferredDERP.Load(); region > 0 {
		hi.NetInfo = &tailcfg.NetInfo{PreferredDERP: int(region)}
	}
	return hi
}

// sendUpdates sends the current endpoints and disco key once, then after every Update.
func (c *Client) sendUpdates(ctx context.Context, nc *noiseClient) {
	for {
		if err := c.sendUpdate(ctx, nc); err != nil && ctx.Err() == nil {
			c.logf("warning", "sending endpoints to control: %v", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-c.updateWake:
		}
	}
}

// sendUpdate is a non-streaming OmitPeers map request carrying endpoints and disco key.
func (c *Client) sendUpdate(ctx context.Context, nc *noiseClient) error {
	c.mu.Lock()
	req := tailcfg.MapRequest{
		Version: tailcfg.CapabilityVersion, Compress: "zstd", NodeKey: c.cfg.NodeKey,
		DiscoKey: c.discoKey, Endpoints: append([]string(nil), c.endpoints...),
		Hostinfo: c.hostinfo(), OmitPeers: true,
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	resp, err := nc.post(ctx, "/machine/map", req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := readSmall(resp.Body) // the reply to OmitPeers is discarded, as tailscale does
	if resp.StatusCode != 200 {
		return &httpError{op: "POST /machine/map (endpoints)", status: resp.StatusCode, body: body}
	}
	return nil
}

// Logout sends a RegisterRequest with Expiry = unix 123, then ends the map poll, forgets the
// registration and reports loggedOut.
func (c *Client) Logout(timeout time.Duration) error {
	if c.stopped.Load() {
		return errors.New("the control client is stopped")
	}
	ctx, cancel := context.WithTimeout(c.ctx, timeout)
	defer cancel()
	done := make(chan struct{})
	c.mu.Lock()
	c.loggingOut = done
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.loggingOut = nil
		c.mu.Unlock()
		close(done)
	}()
	err := safely(func() error {
		controlKey, err := fetchControlKey(ctx, c.ep)
		if err != nil {
			return err
		}
		nc, err := newNoiseClient(ctx, c.ep, c.machine, controlKey)
		if err != nil {
			return err
		}
		defer nc.Close()
		req := tailcfg.RegisterRequest{
			Version: tailcfg.CapabilityVersion, NodeKey: c.cfg.NodeKey, OldNodeKey: zeroNodeKey,
			Expiry: tailcfg.LogoutExpiry, Hostinfo: c.hostinfo(), Ephemeral: c.cfg.Ephemeral,
		}
		rr, err := c.postRegister(ctx, nc, req)
		if err != nil {
			return err
		}
		if rr.Error != "" {
			return fmt.Errorf("control refused the logout: %s", rr.Error)
		}
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("logout did not finish within %v: %v", timeout, err)
		}
		return err
	}
	c.loggedOut.Store(true)
	if c.runCancel != nil {
		c.runCancel()
		<-c.runDone
	}
	c.mu.Lock()
	c.registered = false
	c.mu.Unlock()
	if err := RemoveRegistration(c.cfg.StateDir); err != nil {
		c.logf("warning", "removing the saved registration: %v", err)
	}
	c.emitState(StateLoggedOut, "logged out of "+c.cfg.ControlURL, 0)
	return nil
}

var zeroNodeKey = tailcfg.NodePublicPrefix + strings.Repeat("0", 64)
