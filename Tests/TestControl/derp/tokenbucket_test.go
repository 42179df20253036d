package derp

import (
	"testing"
	"time"
)

func TestTokenBucketAllowsBurstThenOnePerInterval(t *testing.T) {
	b := tokenBucket{burst: 3, interval: time.Second}
	t0 := time.Unix(1000, 0)
	for i := 0; i < 3; i++ {
		if !b.allow(t0) {
			t.Fatalf("burst event %d refused", i)
		}
	}
	if b.allow(t0) || b.allow(t0.Add(500*time.Millisecond)) {
		t.Fatal("fourth event within a second allowed")
	}
	if !b.allow(t0.Add(1000 * time.Millisecond)) {
		t.Fatal("event after a full interval refused")
	}
	// A long pause refills only up to the burst.
	later := t0.Add(time.Hour)
	n := 0
	for b.allow(later) {
		n++
	}
	if n != 3 {
		t.Fatalf("%d events after a long pause, want the burst of 3", n)
	}
	// A clock that steps back allows nothing new.
	if b.allow(later.Add(-time.Minute)) {
		t.Fatal("allowed after the clock stepped back")
	}
}
