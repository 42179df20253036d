package derp

import "time"

// tokenBucket allows burst events at once, then one per interval. The caller
// passes the time, so tests can drive it. Not safe for concurrent use.
type tokenBucket struct {
	burst    int
	interval time.Duration
	tokens   float64
	last     time.Time
}

// allow takes a token if one is available at now.
func (b *tokenBucket) allow(now time.Time) bool {
	if b.last.IsZero() {
		b.tokens = float64(b.burst)
	} else if now.After(b.last) {
		b.tokens += float64(now.Sub(b.last)) / float64(b.interval)
		if b.tokens > float64(b.burst) {
			b.tokens = float64(b.burst)
		}
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
