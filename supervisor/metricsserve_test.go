package supervisor

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

type countingGatherer struct{ n atomic.Int64 }

func (g *countingGatherer) Gather() ([]*dto.MetricFamily, error) {
	g.n.Add(1)
	return nil, nil
}

func TestScrapeFloodGathersOncePerInterval(t *testing.T) {
	g := &countingGatherer{}
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	c := &cachedGatherer{g: g, ttl: time.Second, now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }}
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = c.Gather()
		}()
	}
	wg.Wait()
	if n := g.n.Load(); n != 1 {
		t.Fatalf("200 scrapes within the interval gathered %d times, want 1", n)
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	_, _ = c.Gather()
	if n := g.n.Load(); n != 2 {
		t.Fatalf("a scrape after the interval did not gather again (%d gathers)", n)
	}
}

var _ prometheus.Gatherer = (*cachedGatherer)(nil)

// The listener takes a connection from the kernel only when one of its n
// slots is free; a closed connection frees its slot.
func TestLimitListenerHoldsAtMostNConnections(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newLimitListener(inner, 2)
	defer ln.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	for range 4 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	first, second := recv(t, accepted), recv(t, accepted)
	noMore := func(when string) {
		t.Helper()
		select {
		case c := <-accepted:
			t.Fatalf("%s: a connection (%v) was accepted beyond the limit of 2", when, c.RemoteAddr())
		case <-time.After(200 * time.Millisecond):
		}
	}
	noMore("two open")
	first.Close()
	first.Close() // a second Close must not free a second slot
	third := recv(t, accepted)
	noMore("one closed twice")
	second.Close()
	fourth := recv(t, accepted)
	third.Close()
	fourth.Close()
	ln.Close()
	if _, ok := <-accepted; ok {
		t.Fatal("Accept returned a connection after Close")
	}
}

func recv(t *testing.T, ch <-chan net.Conn) net.Conn {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted within 5s")
		return nil
	}
}
