package wnproto

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Dialer opens one TCP connection to the server under test.
type Dialer func(ctx context.Context) (net.Conn, error)

// GoodputResult is the outcome of a bulk test over one or more parallel flows.
type GoodputResult struct {
	Test     string   `json:"test"`
	Flows    int      `json:"flows"`
	Bytes    uint64   `json:"bytes"`
	Seconds  float64  `json:"seconds"`
	Gbps     float64  `json:"gbit_per_s"`
	PerFlowB []uint64 `json:"per_flow_bytes"`
	// PerSecondMbps is the client's own count (bytes written for upload, read for download)
	// per wall-clock second, all flows together: it shows stalls a mean hides.
	PerSecondMbps []float64 `json:"per_second_mbit"`
}

// meter counts bytes from many goroutines and samples the count once a second.
type meter struct {
	n       atomic.Uint64
	samples []float64
	stop    chan struct{}
	done    chan struct{}
}

func startMeter() *meter {
	m := &meter{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var last uint64
		for {
			select {
			case <-t.C:
				cur := m.n.Load()
				m.samples = append(m.samples, float64(cur-last)*8/1e6)
				last = cur
			case <-m.stop:
				return
			}
		}
	}()
	return m
}

func (m *meter) finish() []float64 {
	close(m.stop)
	<-m.done
	return m.samples
}

// LatencyResult summarises request/response round trips on one connection.
type LatencyResult struct {
	Test       string  `json:"test"`
	Size       int     `json:"size"`
	Count      int     `json:"count"`
	Seconds    float64 `json:"seconds"`
	PerSecond  float64 `json:"per_second"`
	MeanMicros float64 `json:"mean_us"`
	P50Micros  float64 `json:"p50_us"`
	P90Micros  float64 `json:"p90_us"`
	P99Micros  float64 `json:"p99_us"`
	P999Micros float64 `json:"p999_us"`
	MaxMicros  float64 `json:"max_us"`
	MinMicros  float64 `json:"min_us"`
}

// ConnectResult summarises the connection set-up test.
type ConnectResult struct {
	Test        string  `json:"test"`
	Concurrency int     `json:"concurrency"`
	Count       int     `json:"count"`
	Errors      int     `json:"errors"`
	FirstError  string  `json:"first_error,omitempty"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"per_second"`
	P50Micros   float64 `json:"p50_us"`
	P99Micros   float64 `json:"p99_us"`
	MaxMicros   float64 `json:"max_us"`
}

// DialTimeout bounds each connection attempt, so a dead tunnel fails a test instead of waiting
// out TCP's SYN retries.
const DialTimeout = 5 * time.Second

func open(ctx context.Context, dial Dialer, h Header) (net.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, DialTimeout)
	defer cancel()
	c, err := dial(dctx)
	if err != nil {
		return nil, err
	}
	b := h.Encode()
	if _, err := c.Write(b[:]); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Upload streams from client to server on `flows` connections for d and returns the bytes the
// server confirmed over the wall time from the first dial to the last report.
func Upload(ctx context.Context, dial Dialer, flows int, d time.Duration) (GoodputResult, error) {
	res := GoodputResult{Test: "upload", Flows: flows, PerFlowB: make([]uint64, flows)}
	errs := make([]error, flows)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	m := startMeter()
	for i := 0; i < flows; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := open(ctx, dial, Header{Op: OpSink})
			if err != nil {
				errs[i] = err
				return
			}
			defer c.Close()
			buf := make([]byte, BulkChunk)
			for time.Now().Before(deadline) {
				k, err := c.Write(buf)
				m.n.Add(uint64(k))
				if err != nil {
					errs[i] = err
					return
				}
			}
			hc, ok := c.(halfCloser)
			if !ok {
				errs[i] = errors.New("connection cannot half-close")
				return
			}
			if err := hc.CloseWrite(); err != nil {
				errs[i] = err
				return
			}
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			r, err := ReadSinkReport(c)
			if err != nil {
				errs[i] = fmt.Errorf("reading sink report: %w", err)
				return
			}
			res.PerFlowB[i] = r.Bytes
		}(i)
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	res.PerSecondMbps = m.finish()
	for i := range errs {
		if errs[i] != nil {
			return res, errs[i]
		}
		res.Bytes += res.PerFlowB[i]
	}
	res.Gbps = float64(res.Bytes) * 8 / res.Seconds / 1e9
	return res, nil
}

// Download asks the server to stream to the client on `flows` connections for d and returns the
// bytes received over the wall time from the first dial to the last end of stream.
func Download(ctx context.Context, dial Dialer, flows int, d time.Duration) (GoodputResult, error) {
	res := GoodputResult{Test: "download", Flows: flows, PerFlowB: make([]uint64, flows)}
	errs := make([]error, flows)
	var wg sync.WaitGroup
	start := time.Now()
	m := startMeter()
	for i := 0; i < flows; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := open(ctx, dial, Header{Op: OpSource, Argument: uint64(d.Milliseconds())})
			if err != nil {
				errs[i] = err
				return
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(d + 30*time.Second))
			buf := make([]byte, BulkChunk)
			var n uint64
			for {
				k, err := c.Read(buf)
				n += uint64(k)
				m.n.Add(uint64(k))
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					errs[i] = err
					break
				}
			}
			res.PerFlowB[i] = n
		}(i)
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	res.PerSecondMbps = m.finish()
	for i := range errs {
		if errs[i] != nil {
			return res, errs[i]
		}
		res.Bytes += res.PerFlowB[i]
	}
	res.Gbps = float64(res.Bytes) * 8 / res.Seconds / 1e9
	return res, nil
}

// Latency runs request/response exchanges of `size` bytes each way, one outstanding at a time,
// on one connection for d; the first `warmup` of them are not counted.
func Latency(ctx context.Context, dial Dialer, size int, d, warmup time.Duration) (LatencyResult, error) {
	res := LatencyResult{Test: "latency", Size: size}
	c, err := open(ctx, dial, Header{Op: OpEcho, Argument: uint64(size)})
	if err != nil {
		return res, err
	}
	defer c.Close()
	req := make([]byte, size)
	resp := make([]byte, size)
	samples := make([]time.Duration, 0, 1<<16)
	begin := time.Now()
	countFrom := begin.Add(warmup)
	end := countFrom.Add(d)
	c.SetDeadline(end.Add(10 * time.Second))
	var measuredStart time.Time
	for {
		t0 := time.Now()
		if !t0.Before(end) {
			break
		}
		if _, err := c.Write(req); err != nil {
			return res, err
		}
		if _, err := io.ReadFull(c, resp); err != nil {
			return res, err
		}
		if !t0.Before(countFrom) {
			if measuredStart.IsZero() {
				measuredStart = t0
			}
			samples = append(samples, time.Since(t0))
		}
	}
	if hc, ok := c.(halfCloser); ok {
		hc.CloseWrite()
	}
	if len(samples) == 0 {
		return res, errors.New("no round trips completed")
	}
	res.Seconds = time.Since(measuredStart).Seconds()
	res.Count = len(samples)
	res.PerSecond = float64(res.Count) / res.Seconds
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	var sum time.Duration
	for _, s := range samples {
		sum += s
	}
	res.MeanMicros = micros(sum) / float64(len(samples))
	res.MinMicros = micros(samples[0])
	res.P50Micros = micros(percentile(samples, 0.50))
	res.P90Micros = micros(percentile(samples, 0.90))
	res.P99Micros = micros(percentile(samples, 0.99))
	res.P999Micros = micros(percentile(samples, 0.999))
	res.MaxMicros = micros(samples[len(samples)-1])
	return res, nil
}

// Connect opens, uses (one byte from the server) and closes connections on `concurrency`
// workers for d, and reports completed connections per second and the time each took.
func Connect(ctx context.Context, dial Dialer, concurrency int, d time.Duration) (ConnectResult, error) {
	res := ConnectResult{Test: "connect", Concurrency: concurrency}
	var mu sync.Mutex
	var samples []time.Duration
	var errCount atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			one := make([]byte, 1)
			for time.Now().Before(deadline) {
				t0 := time.Now()
				err := connectOnce(ctx, dial, one)
				if err != nil {
					errCount.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					if errCount.Load() > 100 {
						break
					}
					continue
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			samples = append(samples, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	res.Errors = int(errCount.Load())
	if v := firstErr.Load(); v != nil {
		res.FirstError = v.(string)
	}
	res.Count = len(samples)
	if res.Count == 0 {
		return res, fmt.Errorf("no connection completed (%d errors, first: %s)", res.Errors, res.FirstError)
	}
	res.PerSecond = float64(res.Count) / res.Seconds
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	res.P50Micros = micros(percentile(samples, 0.50))
	res.P99Micros = micros(percentile(samples, 0.99))
	res.MaxMicros = micros(samples[len(samples)-1])
	return res, nil
}

func connectOnce(ctx context.Context, dial Dialer, one []byte) error {
	c, err := open(ctx, dial, Header{Op: OpConnect})
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, one); err != nil {
		return err
	}
	if one[0] != byte(OpConnect) {
		return fmt.Errorf("unexpected reply byte %#x", one[0])
	}
	var rest [1]byte
	if n, err := c.Read(rest[:]); n != 0 || !errors.Is(err, io.EOF) {
		return fmt.Errorf("expected end of stream, got %d bytes, %v", n, err)
	}
	return nil
}

// percentile returns the nearest-rank percentile of sorted samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p*float64(len(sorted)))) - 1
	if rank < 0 {
		rank = 0
	}
	if rank >= len(sorted) {
		rank = len(sorted) - 1
	}
	return sorted[rank]
}

func micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
