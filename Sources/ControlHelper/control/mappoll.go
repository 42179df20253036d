package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	"wirenet/Sources/ControlHelper/netmap"
	"wirenet/Sources/ControlHelper/tailcfg"
)

// pollMap runs the streaming map request until the stream breaks (tailscale direct.go
// sendMapRequest): every MapResponse is merged into a table and delivered as a netmap event; the
// first netmap of the session is full and is followed by state running.
func (c *Client) pollMap(ctx context.Context, nc *noiseClient, delivered *bool) error {
	c.mu.Lock()
	req := tailcfg.MapRequest{
		Version: tailcfg.CapabilityVersion, Compress: "zstd", KeepAlive: true, Stream: true,
		NodeKey: c.cfg.NodeKey, DiscoKey: c.discoKey, Endpoints: append([]string(nil), c.endpoints...),
		Hostinfo: c.hostinfo(),
	}
	c.mu.Unlock()
	pollCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The watchdog runs from the request on: a control that never answers, or goes silent after
	// answering, is left after the same time.
	var silent atomic.Bool
	watchdog := time.AfterFunc(c.watchdog, func() {
		silent.Store(true)
		cancel()
	})
	defer watchdog.Stop()
	resp, err := nc.post(pollCtx, "/machine/map", req)
	if err != nil {
		if silent.Load() {
			return fmt.Errorf("control did not answer the map request within %v", c.watchdog)
		}
		return fmt.Errorf("POST /machine/map: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		body, _ := readSmall(resp.Body)
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != 408 && resp.StatusCode != 429 {
			// Control does not know this node (e.g. it lost its state): log in again next time.
			c.mu.Lock()
			c.registered = false
			c.mu.Unlock()
		}
		return &httpError{op: "POST /machine/map", status: resp.StatusCode, body: body}
	}

	frames, err := NewMapFrameReader(resp.Body)
	if err != nil {
		return err
	}
	defer frames.Close()
	session := &mapSession{table: netmap.NewTable(), now: c.now}
	for {
		msg, err := frames.Next()
		if err != nil {
			if silent.Load() {
				return fmt.Errorf("no message from control for %v", c.watchdog)
			}
			if errors.Is(err, context.Canceled) && ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("map stream: %v", err)
		}
		if !watchdog.Stop() {
			if silent.Load() {
				return fmt.Errorf("no message from control for %v", c.watchdog)
			}
		}
		watchdog.Reset(c.watchdog)
		event, problems, err := session.handle(msg)
		for _, p := range problems {
			c.logf("warning", "packet filter: %s", p)
		}
		if err != nil {
			return err
		}
		if event == nil {
			continue
		}
		data, err := json.Marshal(event)
		if err != nil {
			return fmt.Errorf("encoding the netmap: %v", err)
		}
		size := len(data)
		c.sink(EventNetmap, data)
		if size >= releaseDecoderAfter {
			// A large map's buffers (the frame, its decoded MapResponse, the event and its JSON)
			// are garbage now: return them to the OS at once (the dispatcher does the same for its
			// copy once delivered; whichever runs last finds everything dead).
			event, data = nil, nil
			debug.FreeOSMemory()
		}
		if !*delivered {
			*delivered = true
			c.emitState(StateRunning, fmt.Sprintf("connected to %s, %d peers", c.cfg.ControlURL, session.table.PeerCount()), 0)
		}
	}
}

// mapSession turns map messages into netmap events; separate from the I/O for tests and fuzzing.
type mapSession struct {
	table *netmap.Table
	now   func() time.Time
}

// handle decodes one (decompressed) message and merges it. A keep-alive yields no event.
func (s *mapSession) handle(msg []byte) (*netmap.Event, []string, error) {
	resp, err := tailcfg.DecodeMapResponse(msg)
	if err != nil {
		return nil, nil, fmt.Errorf("malformed MapResponse: %v", err)
	}
	if resp.KeepAlive {
		return nil, nil, nil
	}
	if !s.table.HasSelf() && resp.Node == nil {
		return nil, nil, errors.New("control's first MapResponse lacks this node's own record")
	}
	event, problems := s.table.Apply(resp, s.now())
	return event, problems, nil
}
