package derp

import "net/http"

// LatencyCheckHandler answers the HTTPS latency probes clients send to a relay
// when they cannot use STUN (tailscale's netcheck GETs /derp/latency-check,
// older clients /derp/probe; derpserver/handler.go ProbeHandler): 200 with an
// empty body to GET and HEAD, 405 otherwise. Mount it at both paths.
func LatencyCheckHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			w.Header().Set("Access-Control-Allow-Origin", "*")
		default:
			http.Error(w, "GET or HEAD required", http.StatusMethodNotAllowed)
		}
	})
}
