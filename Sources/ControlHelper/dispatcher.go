package main

import (
	"bytes"
	"runtime"
	"strconv"
	"sync"
)

// dispatcher delivers one handle's events to its C callback in order, on one goroutine, so a slow
// callback never blocks the control loop (the queue is the buffer).
type dispatcher struct {
	deliver func(kind int32, data []byte)

	mu       sync.Mutex
	cond     *sync.Cond
	queue    []queuedEvent
	closed   bool
	done     chan struct{}
	goid     int64 // the delivering goroutine's id, to detect wn_control_stop from a callback
	goidSeen chan struct{}
}

type queuedEvent struct {
	kind int32
	data []byte
}

func newDispatcher(deliver func(kind int32, data []byte)) *dispatcher {
	d := &dispatcher{deliver: deliver, done: make(chan struct{}), goidSeen: make(chan struct{})}
	d.cond = sync.NewCond(&d.mu)
	go d.loop()
	<-d.goidSeen
	return d
}

// post queues an event; after close it is dropped.
func (d *dispatcher) post(kind int32, data []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.queue = append(d.queue, queuedEvent{kind: kind, data: append([]byte(nil), data...)})
	d.cond.Signal()
}

func (d *dispatcher) loop() {
	defer close(d.done)
	d.goid = currentGoroutineID()
	close(d.goidSeen)
	for {
		d.mu.Lock()
		for len(d.queue) == 0 && !d.closed {
			d.cond.Wait()
		}
		if d.closed {
			d.mu.Unlock()
			return
		}
		ev := d.queue[0]
		d.queue[0] = queuedEvent{}
		d.queue = d.queue[1:]
		d.mu.Unlock()
		func() {
			defer func() { recover() }() // a panic here must not take the process down
			d.deliver(ev.kind, ev.data)
		}()
		size := len(ev.data)
		ev = queuedEvent{}
		releaseAfterLargeEvent(size)
	}
}

// close drops queued events and waits until no callback runs, unless called from a callback.
func (d *dispatcher) close() {
	d.mu.Lock()
	d.closed = true
	d.queue = nil
	d.cond.Broadcast()
	d.mu.Unlock()
	if currentGoroutineID() == d.goid {
		return // called from inside the callback: it returns to the loop, which then exits
	}
	<-d.done
}

// currentGoroutineID parses "goroutine N [" from the stack header. Used only on start and stop.
func currentGoroutineID() int64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	field := bytes.TrimPrefix(buf[:n], []byte("goroutine "))
	if i := bytes.IndexByte(field, ' '); i > 0 {
		id, _ := strconv.ParseInt(string(field[:i]), 10, 64)
		return id
	}
	return -1
}
