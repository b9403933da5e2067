package spreadtest

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Load drives GET / at a server from Conns goroutines, each over its own
// raw HTTP/1.1 connection, until Stop. Unlike net/http's Transport it never
// retries: a request written and not answered with a full response counts
// as failed, the way wrk counts it. So it sees every connection the server
// closes under a request.
type Load struct {
	// Addr is host:port.
	Addr string
	// Conns is the number of concurrent connections.
	Conns int
	// KeepAlive reuses each connection until the server closes it;
	// otherwise every request opens a new connection.
	KeepAlive bool
	// MaxRequests bounds the whole run; Stop ends it sooner.
	MaxRequests int64
	// MaxDuration bounds the whole run as well.
	MaxDuration time.Duration
	// Dial opens each connection; nil means a plain TCP dial with a 5 s
	// timeout. A TLS load dials (and handshakes) here.
	Dial func(addr string) (net.Conn, error)

	ok, failed, sent atomic.Int64
	mu               sync.Mutex
	errs             map[string]int
	workers          map[string]int // answers by X-Worker value
	stop             chan struct{}
	wg               sync.WaitGroup
}

// Start begins the load.
func (l *Load) Start() {
	l.stop = make(chan struct{})
	l.errs = map[string]int{}
	l.workers = map[string]int{}
	deadline := time.Now().Add(l.MaxDuration)
	for range l.Conns {
		l.wg.Add(1)
		go l.run(deadline)
	}
}

// Stop ends the load and waits for every request in flight.
func (l *Load) Stop() {
	close(l.stop)
	l.wg.Wait()
}

// Done returns the number of answered (200) and failed requests.
func (l *Load) Done() (ok, failed int64) { return l.ok.Load(), l.failed.Load() }

// Errors describes the failures by kind.
func (l *Load) Errors() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.errs)
}

// Workers lists the X-Worker values that answered, with counts.
func (l *Load) Workers() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.workers)
}

func (l *Load) fail(err error) {
	l.failed.Add(1)
	l.mu.Lock()
	l.errs[err.Error()]++
	l.mu.Unlock()
}

func (l *Load) run(deadline time.Time) {
	defer l.wg.Done()
	var conn net.Conn
	var br *bufio.Reader
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	req := "GET / HTTP/1.1\r\nHost: spread\r\n\r\n"
	if !l.KeepAlive {
		req = "GET / HTTP/1.1\r\nHost: spread\r\nConnection: close\r\n\r\n"
	}
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		if time.Now().After(deadline) || l.sent.Add(1) > l.MaxRequests {
			return
		}
		if conn == nil {
			dial := l.Dial
			if dial == nil {
				dial = func(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, 5*time.Second) }
			}
			c, err := dial(l.Addr)
			if err != nil {
				l.fail(fmt.Errorf("dial: %w", err))
				continue
			}
			conn, br = c, bufio.NewReader(c)
		}
		closeAfter, err := l.roundTrip(conn, br, req)
		if err != nil {
			l.fail(err)
		}
		if err != nil || closeAfter {
			conn.Close()
			conn = nil
		}
	}
}

// roundTrip writes one request and reads its whole response.
func (l *Load) roundTrip(conn net.Conn, br *bufio.Reader, req string) (closeAfter bool, err error) {
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		return true, fmt.Errorf("write: %w", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return true, fmt.Errorf("read response: %w", err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return true, fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return resp.Close, fmt.Errorf("status %d", resp.StatusCode)
	}
	l.ok.Add(1)
	l.mu.Lock()
	l.workers[resp.Header.Get("X-Worker")]++
	l.mu.Unlock()
	return resp.Close, nil
}
