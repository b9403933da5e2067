// Package openloop is an open-loop HTTP load: new connections at a fixed
// rate, one request on each, whatever the server does. hey and wrk are
// closed-loop: each client waits for its answer before it sends again, so
// when a worker hangs its clients simply stop sending and the hang costs
// nothing in their figures. Real users keep arriving; this load does too,
// which is how the latency cost of a hung or retiring worker is measured.
package openloop

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"
)

// Load is one open-loop run against a server.
type Load struct {
	// Addr is host:port.
	Addr string
	// Rate is new connections per second.
	Rate int
	// Duration bounds the sending. A connection due while the client is
	// behind is sent at once, so the rate holds on a loaded machine.
	Duration time.Duration
	// Timeout is each request's own deadline, from its connect to the end
	// of its response; a request past it counts as a Timeout (lost).
	Timeout time.Duration
}

// Result is what the clients of one run saw. Sent = answered + Failed.
type Result struct {
	Sent, Failed int
	// The failures by kind: Reset (ECONNRESET: the connection was
	// accepted by the kernel and then dropped, e.g. from a closed queue),
	// Refused (nothing listened), Timeout (no answer within Timeout),
	// Other (an early EOF, a status other than 200, ...).
	Reset, Refused, Timeout, Other int
	// Latencies of the answered requests, connect to response.
	Latencies []time.Duration
}

// Slow counts the answered requests that took longer than d.
func (r Result) Slow(d time.Duration) int {
	n := 0
	for _, l := range r.Latencies {
		if l > d {
			n++
		}
	}
	return n
}

// Percentile returns the p-th percentile (0 < p <= 100) of the answered
// requests' latencies, nearest rank; 0 when none was answered.
func (r Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	s := slices.Clone(r.Latencies)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// Run sends for Duration and returns once every request is answered or
// timed out. at, when not nil, is called (in a goroutine of its own) once
// the first second of sending is done, while the load goes on: a test
// breaks the server there.
func (o Load) Run(at func()) Result {
	var (
		mu  sync.Mutex
		res Result
		wg  sync.WaitGroup
	)
	interval := time.Second / time.Duration(o.Rate)
	begin := time.Now()
	called := at == nil
	// Connection i is due at begin + i*interval: absolute times, so that a
	// late wake-up is made up for rather than lowering the rate.
	for i := 0; ; i++ {
		due := begin.Add(time.Duration(i) * interval)
		if due.Sub(begin) >= o.Duration {
			break
		}
		time.Sleep(time.Until(due))
		if !called && due.Sub(begin) >= time.Second {
			called = true
			go at()
		}
		res.Sent++
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent := time.Now()
			err := o.request(sent.Add(o.Timeout))
			took := time.Since(sent)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				res.Latencies = append(res.Latencies, took)
				return
			}
			res.Failed++
			switch {
			case errors.Is(err, syscall.ECONNRESET):
				res.Reset++
			case errors.Is(err, syscall.ECONNREFUSED):
				res.Refused++
			case errors.Is(err, os.ErrDeadlineExceeded):
				res.Timeout++
			default:
				res.Other++
			}
		}()
	}
	wg.Wait()
	return res
}

// request sends one GET / on a connection of its own and reads the whole
// answer before deadline.
func (o Load) request(deadline time.Time) error {
	d := net.Dialer{Deadline: deadline}
	c, err := d.Dial("tcp", o.Addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(deadline)
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: spread\r\nConnection: close\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
