package main

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestDispatcherDeliversInOrderAndNothingAfterClose(t *testing.T) {
	var got []int32
	var afterClose atomic.Int32
	var closed atomic.Bool
	d := newDispatcher(func(kind int32, data []byte) {
		if closed.Load() {
			afterClose.Add(1)
		}
		got = append(got, kind)
		time.Sleep(time.Millisecond)
	})
	for i := int32(0); i < 50; i++ {
		d.post(i, []byte{byte(i)})
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		d.mu.Lock()
		empty := len(d.queue) == 0
		d.mu.Unlock()
		if empty || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	for i := int32(0); i < 100; i++ {
		d.post(100+i, nil)
	}
	d.close()
	closed.Store(true)
	d.post(999, nil)
	time.Sleep(50 * time.Millisecond)
	if afterClose.Load() != 0 {
		t.Fatal("a callback ran after close returned")
	}
	for i := 0; i < 50; i++ {
		if got[i] != int32(i) {
			t.Fatalf("order: %v", got[:50])
		}
	}
}

func TestDispatcherCloseFromInsideTheCallbackDoesNotDeadlock(t *testing.T) {
	var d *dispatcher
	var calls atomic.Int32
	returned := make(chan struct{})
	d = newDispatcher(func(kind int32, data []byte) {
		calls.Add(1)
		if kind == 1 {
			d.close() // as wn_control_stop called from the callback
			close(returned)
		}
	})
	d.post(1, nil)
	d.post(2, nil)
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("close from the callback deadlocked")
	}
	<-d.done
	if calls.Load() != 1 {
		t.Fatalf("%d callbacks, want 1", calls.Load())
	}
}
