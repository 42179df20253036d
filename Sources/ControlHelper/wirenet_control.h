// wirenet_control.h — the C ABI of libwirenetcontrol.so, WireNet's control-plane helper.
// Contract: Docs/control-plane.md. All JSON is UTF-8, passed as pointer + length (not
// NUL-terminated) and valid only during the call; the callee copies what it keeps.
#ifndef WIRENET_CONTROL_H
#define WIRENET_CONTROL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Receives events: kind is one of WN_EVENT_*, json is valid only during the call. Callbacks arrive
/// on helper threads, one at a time per handle, in order.
typedef void (*wn_event_fn)(void *context, int32_t kind, const uint8_t *json, int64_t length);

enum { WN_EVENT_NETMAP = 1, WN_EVENT_STATE = 2, WN_EVENT_LOG = 3 };

/// Validates the configuration, loads or creates the machine key in stateDir, and starts login and
/// the map poll in the background. Returns a handle > 0, or 0 with a message in `error`
/// (NUL-terminated, truncated to error_capacity). Never blocks on the network.
int64_t wn_control_start(const uint8_t *config, int64_t length, wn_event_fn callback, void *context,
                         uint8_t *error, int64_t error_capacity);

/// Reports this node's UDP endpoints and disco key to control (a non-streaming OmitPeers map
/// request). JSON: {"endpoints": ["ip:port", ...], "discoKey": "discokey:<hex>"}.
/// Returns 0, or -1 for a bad handle or malformed JSON. Does not block on the network.
int32_t wn_control_update(int64_t handle, const uint8_t *json, int64_t length);

/// Logs the node out (RegisterRequest with Expiry = unix 123), waiting at most timeout_ms.
/// Returns 0, or -1 with a message in `error`.
int32_t wn_control_logout(int64_t handle, int64_t timeout_ms, uint8_t *error, int64_t error_capacity);

/// Stops the map poll and every goroutine of this handle; no callback runs after it returns.
/// Idempotent. May be called from inside the callback (it then returns without waiting for that
/// callback, and no further callback follows).
void wn_control_stop(int64_t handle);

#ifdef __cplusplus
}
#endif

#endif
