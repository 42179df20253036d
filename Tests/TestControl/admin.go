package main

// Admin endpoints for tests, served on the control listener and answered only for clients on a
// loopback address (documented in Docs/control-plane.md):
//
//	GET    /test/nodes                     nodes as JSON (add ?synthetic=1 to include synthetic peers)
//	POST   /test/nodes                     add an external peer: {"hostname", "nodeKey", "discoKey", "endpoints"}
//	DELETE /test/nodes?id=N                remove node N (its peers get PeersRemoved)
//	GET    /test/policy                    the current policy (JSON list of FilterRule)
//	POST   /test/policy                    replace the policy with the JSON body; pushed to every stream
//	POST   /test/policy/reload             re-read --policy FILE (as SIGHUP does)
//	POST   /test/authkey?key=K&kind=KIND   add an auth key (kind: reusable, oneoff, expired)
//	POST   /test/synthetic?count=N         add N synthetic peers
//	POST   /test/synthetic/churn?count=N   give N synthetic peers new endpoints (one PeersChangedPatch)
//	DELETE /test/synthetic                 remove every synthetic peer

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
)

func isLoopback(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return false
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

func writeJSON(w http.ResponseWriter, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func (s *controlServer) serveAdmin(w http.ResponseWriter, r *http.Request) {
	if !isLoopback(r.RemoteAddr) {
		http.Error(w, "admin endpoints answer only loopback clients", http.StatusForbidden)
		return
	}
	t := s.tailnet
	q := r.URL.Query()
	switch r.Method + " " + r.URL.Path {
	case "GET /test/nodes":
		writeJSON(w, t.summaries(q.Get("synthetic") == "1"))
	case "POST /test/nodes":
		var e externalNode
		if err := readJSONBody(r, &e); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sum, err := t.addExternal(e)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, sum)
	case "DELETE /test/nodes":
		id, err := strconv.ParseInt(q.Get("id"), 10, 64)
		if err != nil {
			http.Error(w, "id=N required", http.StatusBadRequest)
			return
		}
		if !t.removeByID(id) {
			http.Error(w, fmt.Sprintf("no node %d", id), http.StatusNotFound)
			return
		}
		writeJSON(w, map[string]int64{"removed": id})
	case "GET /test/policy":
		t.mu.Lock()
		rules := append([]FilterRule{}, t.policy...)
		t.mu.Unlock()
		writeJSON(w, rules)
	case "POST /test/policy":
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
		if err != nil {
			http.Error(w, "reading policy: "+err.Error(), http.StatusBadRequest)
			return
		}
		rules, err := parsePolicy(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		t.setPolicy(rules)
		writeJSON(w, map[string]int{"rules": len(rules)})
	case "POST /test/policy/reload":
		if s.reloadPolicy == nil {
			http.Error(w, "the server runs without --policy", http.StatusConflict)
			return
		}
		if err := s.reloadPolicy(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, map[string]string{"reloaded": "ok"})
	case "POST /test/authkey":
		key := q.Get("key")
		kind, err := parseAuthKeyKind(q.Get("kind"))
		if key == "" || err != nil {
			http.Error(w, "key=K required; kind is reusable, oneoff or expired", http.StatusBadRequest)
			return
		}
		t.addAuthKey(key, kind)
		writeJSON(w, map[string]string{"key": key, "kind": kind.String()})
	case "POST /test/synthetic":
		count, err := strconv.Atoi(q.Get("count"))
		if err != nil {
			http.Error(w, "count=N required", http.StatusBadRequest)
			return
		}
		added, err := t.addSynthetic(count)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, map[string]int{"added": added})
	case "POST /test/synthetic/churn":
		count, err := strconv.Atoi(q.Get("count"))
		if err != nil {
			http.Error(w, "count=N required", http.StatusBadRequest)
			return
		}
		changed, err := t.churnSynthetic(count)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, map[string]int{"changed": changed})
	case "DELETE /test/synthetic":
		writeJSON(w, map[string]int{"removed": t.removeSynthetic()})
	default:
		http.Error(w, "unknown admin endpoint "+r.Method+" "+r.URL.Path, http.StatusNotFound)
	}
}
