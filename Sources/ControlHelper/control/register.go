package control

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"wirenet/Sources/ControlHelper/tailcfg"
)

// register logs the node key in (tailscale direct.go doLogin). With a saved registration for this
// control URL and node key it first tries without the auth key (a one-off key may be used up);
// then with the auth key. A refusal is terminal; transport and 5xx errors are retried by the loop.
func (c *Client) register(ctx context.Context, nc *noiseClient) error {
	base := tailcfg.RegisterRequest{
		Version: tailcfg.CapabilityVersion, NodeKey: c.cfg.NodeKey, OldNodeKey: zeroNodeKey,
		Hostinfo: c.hostinfo(), Ephemeral: c.cfg.Ephemeral,
	}
	_, saved := LoadRegistration(c.cfg.StateDir, c.cfg.ControlURL, c.cfg.NodeKey)
	if !saved && c.cfg.AuthKey == "" {
		return refused("no auth key, and %s holds no registration with %s for this node key: start once with an auth key", c.cfg.StateDir, c.cfg.ControlURL)
	}
	if saved {
		err := c.tryRegister(ctx, nc, base)
		if err == nil || !isTerminal(err) || c.cfg.AuthKey == "" {
			return err
		}
		c.logf("info", "control no longer knows this node (%v); registering again with the auth key", err)
	}
	withKey := base
	withKey.Auth = &tailcfg.RegisterResponseAuth{AuthKey: c.cfg.AuthKey}
	return c.tryRegister(ctx, nc, withKey)
}

func isTerminal(err error) bool {
	_, ok := err.(*terminalError)
	return ok
}

func (c *Client) tryRegister(ctx context.Context, nc *noiseClient, req tailcfg.RegisterRequest) error {
	rr, err := c.postRegister(ctx, nc, req)
	if err != nil {
		return err
	}
	switch {
	case rr.Error != "":
		return refused("control refused this node: %s", rr.Error)
	case rr.AuthURL != "":
		return refused("control wants an interactive login at %s, which this node cannot do; start it with an auth key", clip(rr.AuthURL, 300))
	case rr.NodeKeyExpired:
		return refused("control says this node key has expired; start with a new auth key")
	}
	if !rr.MachineAuthorized {
		c.logf("info", "control registered the node but has not authorized the machine yet; it gets no peers until an admin approves it")
	}
	if err := SaveRegistration(c.cfg.StateDir, Registration{ControlURL: c.cfg.ControlURL, NodeKey: c.cfg.NodeKey, Time: c.now().UTC(), Ephemeral: c.cfg.Ephemeral}); err != nil {
		c.logf("warning", "saving the registration in %s: %v (a restart will need the auth key)", c.cfg.StateDir, err)
	}
	return nil
}

// postRegister sends a RegisterRequest. A 4xx answer other than 408/429 is a refusal (terminal)
// with control's message; 5xx and transport errors are not.
func (c *Client) postRegister(ctx context.Context, nc *noiseClient, req tailcfg.RegisterRequest) (*tailcfg.RegisterResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	resp, err := nc.post(ctx, "/machine/register", req)
	if err != nil {
		return nil, fmt.Errorf("POST /machine/register: %v", err)
	}
	defer resp.Body.Close()
	body, err := readSmall(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("POST /machine/register: %v", err)
	}
	if resp.StatusCode != 200 {
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != 408 && resp.StatusCode != 429 {
			msg := strings.TrimSpace(string(body))
			if msg == "" {
				msg = fmt.Sprintf("HTTP %d", resp.StatusCode)
			}
			return nil, refused("control refused this node: %s", clip(msg, 500))
		}
		return nil, &httpError{op: "POST /machine/register", status: resp.StatusCode, body: body}
	}
	var rr tailcfg.RegisterResponse
	if err := json.Unmarshal(body, &rr); err != nil {
		return nil, fmt.Errorf("POST /machine/register: the answer is not a RegisterResponse: %v", err)
	}
	return &rr, nil
}
