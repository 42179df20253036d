// Command libwirenetcontrol is WireNet's control-plane helper, built with -buildmode=c-shared as
// libwirenetcontrol.so and loaded by the Swift side with dlopen. The C ABI is wirenet_control.h;
// the contract (configuration, events, state files) is Docs/control-plane.md.
package main

/*
#include <stdint.h>

// The same callback type as wirenet_control.h. The header is not included here: cgo cannot
// spell its `const uint8_t *` parameters, and the generated prototypes would conflict; the
// symbols' ABI is the same.
typedef void (*wn_event_fn)(void *context, int32_t kind, const uint8_t *json, int64_t length);

static void wn_call_event(wn_event_fn fn, void *context, int32_t kind, const uint8_t *json, int64_t length) {
	fn(context, kind, json, length);
}
*/
import "C"

import (
	"fmt"
	"sync"
	"time"
	"unsafe"

	"wirenet/Sources/ControlHelper/control"
)

func main() {}

// handle is one started client and its event dispatcher.
type handle struct {
	client   *control.Client
	events   *dispatcher
	stopOnce sync.Once
}

var (
	handlesMu  sync.Mutex
	handles    = map[int64]*handle{}
	nextHandle int64
)

func lookup(h int64) *handle {
	handlesMu.Lock()
	defer handlesMu.Unlock()
	return handles[h]
}

// goBytes copies C memory; a negative or absurd length is rejected.
func goBytes(p *C.uint8_t, n C.int64_t) ([]byte, error) {
	if n < 0 || n > 1<<24 {
		return nil, fmt.Errorf("length %d out of range", int64(n))
	}
	if n == 0 {
		return []byte{}, nil
	}
	if p == nil {
		return nil, fmt.Errorf("null pointer with length %d", int64(n))
	}
	return C.GoBytes(unsafe.Pointer(p), C.int(n)), nil
}

// writeError copies msg, NUL-terminated and truncated, into the caller's buffer.
func writeError(buf *C.uint8_t, capacity C.int64_t, msg string) {
	if buf == nil || capacity <= 0 {
		return
	}
	n := len(msg)
	if int64(n) > int64(capacity)-1 {
		n = int(capacity) - 1
	}
	dst := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(capacity))
	copy(dst, msg[:n])
	dst[n] = 0
}

//export wn_control_start
func wn_control_start(config *C.uint8_t, length C.int64_t, callback C.wn_event_fn, context unsafe.Pointer, errBuf *C.uint8_t, errCap C.int64_t) (result C.int64_t) {
	defer func() {
		if r := recover(); r != nil {
			writeError(errBuf, errCap, fmt.Sprintf("internal error: %v", r))
			result = 0
		}
	}()
	if callback == nil {
		writeError(errBuf, errCap, "callback is null")
		return 0
	}
	data, err := goBytes(config, length)
	if err != nil {
		writeError(errBuf, errCap, "configuration: "+err.Error())
		return 0
	}
	cfg, err := control.ParseConfig(data)
	if err != nil {
		writeError(errBuf, errCap, err.Error())
		return 0
	}
	events := newDispatcher(func(kind int32, data []byte) {
		var p *C.uint8_t
		if len(data) > 0 {
			p = (*C.uint8_t)(unsafe.Pointer(&data[0]))
		}
		C.wn_call_event(callback, context, C.int32_t(kind), p, C.int64_t(len(data)))
	})
	client, err := control.New(cfg, events.post)
	if err != nil {
		events.close()
		writeError(errBuf, errCap, err.Error())
		return 0
	}
	handlesMu.Lock()
	nextHandle++
	id := nextHandle
	handles[id] = &handle{client: client, events: events}
	handlesMu.Unlock()
	client.Start()
	return C.int64_t(id)
}

//export wn_control_update
func wn_control_update(h C.int64_t, json *C.uint8_t, length C.int64_t) (result C.int32_t) {
	defer func() {
		if recover() != nil {
			result = -1
		}
	}()
	hd := lookup(int64(h))
	if hd == nil {
		return -1
	}
	data, err := goBytes(json, length)
	if err != nil {
		return -1
	}
	u, err := control.ParseUpdate(data)
	if err != nil {
		hd.events.post(control.EventLog, []byte(fmt.Sprintf(`{"level":"error","message":%q}`, "wn_control_update: "+err.Error())))
		return -1
	}
	hd.client.Update(u)
	return 0
}

//export wn_control_logout
func wn_control_logout(h C.int64_t, timeoutMs C.int64_t, errBuf *C.uint8_t, errCap C.int64_t) (result C.int32_t) {
	defer func() {
		if r := recover(); r != nil {
			writeError(errBuf, errCap, fmt.Sprintf("internal error: %v", r))
			result = -1
		}
	}()
	hd := lookup(int64(h))
	if hd == nil {
		writeError(errBuf, errCap, "unknown or stopped handle")
		return -1
	}
	if timeoutMs <= 0 {
		writeError(errBuf, errCap, "timeout_ms must be positive")
		return -1
	}
	if err := hd.client.Logout(time.Duration(timeoutMs) * time.Millisecond); err != nil {
		writeError(errBuf, errCap, err.Error())
		return -1
	}
	return 0
}

//export wn_control_stop
func wn_control_stop(h C.int64_t) {
	defer func() { recover() }()
	handlesMu.Lock()
	hd := handles[int64(h)]
	delete(handles, int64(h))
	handlesMu.Unlock()
	if hd == nil {
		return
	}
	hd.stopOnce.Do(func() {
		hd.client.Stop()
		hd.events.close()
	})
}
