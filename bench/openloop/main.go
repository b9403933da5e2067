// Command openloop is the drills' and benchmarks' open-loop load: new
// connections to ADDR at a fixed rate, one GET / on each, each with its own
// deadline, whatever the server does (package internal/openloop says why
// hey and wrk cannot show a hang's cost). It prints one line of key=value
// fields:
//
//	sent ok lost reset refused timeout other slow slow_pct p50_ms p90_ms p99_ms p999_ms max_ms
//
// lost is every request not answered with 200 (reset + refused + timeout
// + other); slow counts the answered ones slower than -slow.
//
//	go run ./bench/openloop -addr 127.0.0.1:8000 -rate 500 -duration 8s
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/spreadhttp/spread/internal/openloop"
)

func main() {
	fs := flag.NewFlagSet("openloop", flag.ContinueOnError)
	addr := fs.String("addr", "", "host:port of the server (loopback only in the drills)")
	rate := fs.Int("rate", 500, "new connections per second")
	duration := fs.Duration("duration", 8*time.Second, "how long to send")
	timeout := fs.Duration("timeout", 20*time.Second, "each request's deadline, connect to full response; later is lost")
	slow := fs.Duration("slow", 100*time.Millisecond, "an answered request slower than this counts as slow")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if err := check(*addr, *rate, *duration, *timeout, *slow, fs.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "openloop:", err)
		os.Exit(2)
	}
	res := openloop.Load{Addr: *addr, Rate: *rate, Duration: *duration, Timeout: *timeout}.Run(nil)
	ms := func(p float64) string {
		return fmt.Sprintf("%.1f", float64(res.Percentile(p))/float64(time.Millisecond))
	}
	n := res.Slow(*slow)
	pct := 0.0
	if res.Sent > 0 {
		pct = 100 * float64(n) / float64(res.Sent)
	}
	fmt.Printf("sent=%d ok=%d lost=%d reset=%d refused=%d timeout=%d other=%d slow=%d slow_pct=%.2f p50_ms=%s p90_ms=%s p99_ms=%s p999_ms=%s max_ms=%s\n",
		res.Sent, len(res.Latencies), res.Failed, res.Reset, res.Refused, res.Timeout, res.Other, n, pct,
		ms(50), ms(90), ms(99), ms(99.9), ms(100))
}

// check rejects what would make a run meaningless, in one line.
func check(addr string, rate int, duration, timeout, slow time.Duration, args []string) error {
	switch {
	case len(args) > 0:
		return fmt.Errorf("unexpected argument %q; every setting is a flag", args[0])
	case addr == "":
		return fmt.Errorf("-addr is required (host:port)")
	case rate < 1 || rate > 100000:
		return fmt.Errorf("-rate must be 1..100000 connections a second, got %d", rate)
	case duration <= 0 || timeout <= 0 || slow <= 0:
		return fmt.Errorf("-duration, -timeout and -slow must be positive")
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("-addr %q: %v", addr, err)
	}
	return nil
}
