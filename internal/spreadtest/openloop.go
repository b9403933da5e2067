package spreadtest

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// OpenLoop sends requests at a fixed rate of new connections, one request
// per connection, whatever the server does: unlike hey and wrk, which wait
// for an answer before sending again and so stop sending when the server is
// stuck, it keeps arriving, as real users do. It is how a hang's cost in
// latency is measured.
type OpenLoop struct {
	// Addr is host:port.
	Addr string
	// Rate is new connections per second.
	Rate int
	// Duration bounds the sending; every request also has Timeout to be
	// answered.
	Duration, Timeout time.Duration
}

// OpenLoopResult is what the clients of an open loop saw.
type OpenLoopResult struct {
	Sent, Failed int
	// Latencies of the answered requests.
	Latencies []time.Duration
}

// Slow counts the answered requests that took longer than d.
func (r OpenLoopResult) Slow(d time.Duration) int {
	n := 0
	for _, l := range r.Latencies {
		if l > d {
			n++
		}
	}
	return n
}

// Run sends for Duration and returns once every request is answered or
// timed out. start, when not nil, is called once the first second of
// sending is done, while the load goes on.
func (o OpenLoop) Run(start func()) OpenLoopResult {
	var (
		mu  sync.Mutex
		res OpenLoopResult
		wg  sync.WaitGroup
	)
	interval := time.Second / time.Duration(o.Rate)
	t := time.NewTicker(interval)
	defer t.Stop()
	begin := time.Now()
	started := start == nil
	for time.Since(begin) < o.Duration {
		<-t.C
		if !started && time.Since(begin) >= time.Second {
			started = true
			go start()
		}
		res.Sent++
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent := time.Now()
			err := o.request()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Failed++
				return
			}
			res.Latencies = append(res.Latencies, time.Since(sent))
		}()
	}
	wg.Wait()
	return res
}

func (o OpenLoop) request() error {
	c, err := net.DialTimeout("tcp", o.Addr, o.Timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(o.Timeout))
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: spread\r\nConnection: close\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
