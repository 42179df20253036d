package main

// POST /machine/register: log in with an auth key, re-register, rotate the node key, log out.

import (
	"encoding/json"
	"fmt"
	"time"
)

// The one user every node belongs to.
const testUserID = 1

// Messages a client shows its user when the server refuses it (RegisterResponse.Error).
const (
	errAuthKeyMissing = "auth key required: this node is not registered"
	errAuthKeyInvalid = "invalid auth key"
	errAuthKeyExpired = "auth key expired"
	errAuthKeyUsed    = "auth key already used"
)

func (t *Tailnet) testUser() (User, Login) {
	login := "tester@" + t.cfg.Domain
	return User{ID: testUserID, LoginName: login, DisplayName: "tester"},
		Login{ID: testUserID, Provider: "testcontrol", LoginName: login, DisplayName: "tester"}
}

func (t *Tailnet) userProfiles() []UserProfile {
	u, _ := t.testUser()
	return []UserProfile{{ID: u.ID, LoginName: u.LoginName, DisplayName: u.DisplayName}}
}

func (t *Tailnet) refusal(msg string) RegisterResponse {
	u, l := t.testUser()
	return RegisterResponse{User: u, Login: l, Error: msg}
}

// checkAuthKeyLocked returns "" when key admits a new node, else the refusal message.
func (t *Tailnet) checkAuthKeyLocked(key string) string {
	if key == "" {
		return errAuthKeyMissing
	}
	kind, ok := t.authKeys[key]
	switch {
	case !ok:
		return errAuthKeyInvalid
	case kind == authKeyExpired:
		return errAuthKeyExpired
	case kind == authKeyOneOff && t.usedKeys[key]:
		return errAuthKeyUsed
	}
	return ""
}

// register handles one RegisterRequest from the machine that the Noise handshake authenticated.
func (t *Tailnet) register(machine MachinePublic, req *RegisterRequest, now time.Time) RegisterResponse {
	if req.NodeKey.isZero() {
		return t.refusal("register request has no node key")
	}
	hi, ok := parseHostinfo(req.Hostinfo)
	if !ok {
		req.Hostinfo = nil // absent or not an object: keep what the node had
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	u, l := t.testUser()
	accepted := RegisterResponse{User: u, Login: l, MachineAuthorized: true}

	if !req.Expiry.IsZero() && !req.Expiry.After(now) {
		t.logoutLocked(machine, req.NodeKey)
		accepted.NodeKeyExpired = true
		accepted.MachineAuthorized = false
		return accepted
	}

	// Already registered with this node key: no auth key needed (a restart, or a re-login).
	if n := t.byKey[req.NodeKey]; n != nil && !n.LoggedOut {
		if n.Machine != machine {
			return t.refusal("this node key is registered to another machine")
		}
		t.refreshRegistrationLocked(n, req, hi)
		return accepted
	}

	// Node key rotation: the old key names a registered node of this machine.
	if !req.OldNodeKey.isZero() {
		if n := t.byKey[req.OldNodeKey]; n != nil && !n.LoggedOut && n.Machine == machine {
			if other := t.byKey[req.NodeKey]; other != nil && other != n {
				return t.refusal("the new node key is already in use")
			}
			delete(t.byKey, n.Key)
			n.Key = req.NodeKey
			t.byKey[n.Key] = n
			t.cfg.Logf("node %d (%s) rotated its node key to %s", n.ID, n.Hostname, n.Key.ShortString())
			t.refreshRegistrationLocked(n, req, hi)
			t.touchLocked(n, true)
			t.notifyLocked()
			return accepted
		}
	}

	authKey := ""
	if req.Auth != nil {
		authKey = req.Auth.AuthKey
	}
	if msg := t.checkAuthKeyLocked(authKey); msg != "" {
		t.cfg.Logf("register %s refused: %s", req.NodeKey.ShortString(), msg)
		return t.refusal(msg)
	}
	if t.authKeys[authKey] == authKeyOneOff {
		t.usedKeys[authKey] = true
	}

	// A machine that was here before (logged out, or with a new node key) keeps its node.
	var n *nodeRecord
	for _, cand := range t.nodes {
		if cand.Machine == machine && !cand.Synthetic {
			n = cand
			break
		}
	}
	if n != nil {
		if t.byKey[n.Key] == n {
			delete(t.byKey, n.Key)
		}
		if other := t.byKey[req.NodeKey]; other != nil {
			t.removeNodeLocked(other, "its node key was registered again by another machine")
		}
		n.Key = req.NodeKey
		n.LoggedOut = false
		t.byKey[n.Key] = n
		t.refreshRegistrationLocked(n, req, hi)
		t.touchLocked(n, true)
		t.cfg.Logf("node %d (%s) registered again with an auth key", n.ID, n.Hostname)
	} else {
		a4, a6, err := t.allocateAddressesLocked()
		if err != nil {
			return t.refusal(err.Error())
		}
		if other := t.byKey[req.NodeKey]; other != nil {
			t.removeNodeLocked(other, "its node key was registered again by another machine")
		}
		n = &nodeRecord{
			ID: t.nextID, Key: req.NodeKey, Machine: machine, Addr4: a4, Addr6: a6,
			Created: now.UTC().Truncate(time.Second),
		}
		t.nextID++
		t.nodes[n.ID] = n
		t.byKey[n.Key] = n
		t.refreshRegistrationLocked(n, req, hi)
		t.touchLocked(n, true)
		t.cfg.Logf("node %d registered: %s %v %v ephemeral=%v", n.ID, t.fqdn(n), a4, a6, n.Ephemeral)
	}
	t.notifyLocked()
	if !n.online {
		t.scheduleEphemeralRemovalLocked(n)
	}
	return accepted
}

// refreshRegistrationLocked applies what a register request says about the node.
func (t *Tailnet) refreshRegistrationLocked(n *nodeRecord, req *RegisterRequest, hi hostinfoFields) {
	changed := false
	if n.Ephemeral != req.Ephemeral {
		n.Ephemeral = req.Ephemeral
		changed = true
	}
	if req.Version != 0 && n.Cap != req.Version {
		n.Cap = req.Version
	}
	if len(req.Hostinfo) > 0 {
		n.Hostinfo = append(json.RawMessage(nil), req.Hostinfo...)
		changed = true
	}
	requested := hi.Hostname
	if requested == "" && n.Hostname == "" {
		requested = fmt.Sprintf("node-%d", n.ID)
	}
	if t.setRequestedHostnameLocked(n, requested) {
		changed = true
	}
	if changed {
		t.touchLocked(n, true)
		t.notifyLocked()
	}
}

// logoutLocked ends a node's login: an ephemeral node is removed at once; another keeps its
// addresses but leaves the netmap until it registers again with an auth key.
func (t *Tailnet) logoutLocked(machine MachinePublic, key NodePublic) {
	n := t.byKey[key]
	if n == nil || n.Machine != machine {
		return
	}
	if n.Ephemeral {
		t.removeNodeLocked(n, "ephemeral node logged out")
		return
	}
	n.LoggedOut = true
	n.online = false
	t.touchLocked(n, true)
	t.cfg.Logf("node %d (%s) logged out", n.ID, n.Hostname)
	t.notifyLocked()
}
