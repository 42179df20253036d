// Command wnperf is the measuring tool of perf/run.sh over kernel sockets (the Linux TCP side of
// every row): a server for the wnproto tests, a client that runs one test and prints JSON, and a
// /proc reader for the harness.
//
//	wnperf server -listen ADDR
//	wnperf client -connect HOST:PORT -test upload|download|latency|connect [flags]
//	wnperf procstat PID...
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"strconv"

	"wirenet-perf/wnproto"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "server":
		err = server(os.Args[2:])
	case "client":
		err = wnproto.RunClientCommand("wnperf", os.Args[2:], func(addr string) wnproto.Dialer {
			var d net.Dialer
			return func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
		})
	case "procstat":
		err = procstat(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wnperf:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: wnperf server -listen ADDR | client -connect HOST:PORT -test T [flags] | procstat PID...")
	os.Exit(2)
}

func server(args []string) error {
	fs := flag.NewFlagSet("wnperf server", flag.ContinueOnError)
	listen := fs.String("listen", ":5201", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	log.Printf("wnperf server listening on %s", l.Addr())
	return wnproto.Serve(l, log.Printf)
}

func procstat(args []string) error {
	out := make([]wnproto.ProcUsage, 0, len(args))
	for _, a := range args {
		pid, err := strconv.Atoi(a)
		if err != nil {
			return fmt.Errorf("procstat: bad pid %q", a)
		}
		u, err := wnproto.ReadProcUsage(pid)
		if err != nil {
			return err
		}
		out = append(out, u)
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}
