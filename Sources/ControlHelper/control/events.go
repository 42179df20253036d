package control

import (
	"encoding/json"
	"fmt"
	"runtime/debug"
)

// Event kinds (wirenet_control.h).
const (
	EventNetmap = 1
	EventState  = 2
	EventLog    = 3
)

// States of a state event (Docs/control-plane.md).
const (
	StateRegistering  = "registering"
	StateRefused      = "refused"
	StateRunning      = "running"
	StateReconnecting = "reconnecting"
	StateLoggedOut    = "loggedOut"
)

// Sink receives events in order. It must not block for long: the helper's dispatcher queues them.
type Sink func(kind int32, json []byte)

// StateEvent is the JSON of a state event.
type StateEvent struct {
	State     string `json:"state"`
	Message   string `json:"message"`
	RetryInMs int64  `json:"retryInMs"`
}

// LogEvent is the JSON of a log event.
type LogEvent struct {
	Level   string `json:"level"`
	Message string `json:"message"`
}

func (c *Client) emitState(state, message string, retryInMs int64) {
	data, _ := json.Marshal(StateEvent{State: state, Message: message, RetryInMs: retryInMs})
	c.sink(EventState, data)
}

func (c *Client) logf(level, format string, args ...interface{}) {
	data, _ := json.Marshal(LogEvent{Level: level, Message: fmt.Sprintf(format, args...)})
	c.sink(EventLog, data)
}

// panicError is a recovered panic turned into an error: a hostile or malformed response must never
// take the process down.
type panicError struct {
	value interface{}
	stack string
}

func (p *panicError) Error() string {
	return fmt.Sprintf("internal error (recovered panic): %v", p.value)
}

// safely runs f, turning a panic into an error.
func safely(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{value: r, stack: string(debug.Stack())}
		}
	}()
	return f()
}

// goSafely starts a goroutine counted in c.wg whose panic becomes a log event.
func (c *Client) goSafely(name string, f func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := safely(func() error { f(); return nil }); err != nil {
			c.logf("error", "%s: %v", name, err)
		}
	}()
}
