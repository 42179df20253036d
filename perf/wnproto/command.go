package wnproto

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"
)

// ClientReport is what a client run prints: the test's result and the client process's own
// CPU time and memory at the end of the run.
type ClientReport struct {
	Result any       `json:"result"`
	Client ProcUsage `json:"client"`
}

// RunClientCommand parses client flags from args, runs one test with the dialer that dialFor
// returns for the -connect address, and prints a ClientReport as one JSON line on stdout.
// Both wnperf (kernel sockets) and gvisor-peer (netstack) use it, so their clients behave alike.
func RunClientCommand(name string, args []string, dialFor func(addr string) Dialer) error {
	fs := flag.NewFlagSet(name+" client", flag.ContinueOnError)
	connect := fs.String("connect", "", "server address HOST:PORT")
	test := fs.String("test", "upload", "upload | download | latency | connect")
	flows := fs.Int("flows", 1, "parallel connections (upload, download)")
	duration := fs.Duration("duration", 10*time.Second, "measured duration")
	warmup := fs.Duration("warmup", 500*time.Millisecond, "latency: exchanges not counted at the start")
	size := fs.Int("size", 64, "latency: request and response size in bytes")
	concurrency := fs.Int("concurrency", 1, "connect: parallel workers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *connect == "" {
		return fmt.Errorf("%s client: -connect is required", name)
	}
	dial := dialFor(*connect)
	ctx := context.Background()
	var result any
	var err error
	switch *test {
	case "upload":
		result, err = Upload(ctx, dial, *flows, *duration)
	case "download":
		result, err = Download(ctx, dial, *flows, *duration)
	case "latency":
		result, err = Latency(ctx, dial, *size, *duration, *warmup)
	case "connect":
		result, err = Connect(ctx, dial, *concurrency, *duration)
	default:
		return fmt.Errorf("%s client: unknown -test %q", name, *test)
	}
	if err != nil {
		return fmt.Errorf("%s client %s: %w", name, *test, err)
	}
	self, err := ReadProcUsage(0)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(ClientReport{Result: result, Client: self})
}
