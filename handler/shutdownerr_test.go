package handler

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// failingListener accepts nothing; Close ends Accept and fails with err.
type failingListener struct {
	err  error
	once sync.Once
	done chan struct{}
}

func (l *failingListener) Accept() (net.Conn, error) {
	<-l.done
	return nil, net.ErrClosed
}

func (l *failingListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.err
}

func (l *failingListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

// Shutdown reports the first listener that failed to close (and only a
// real failure: an already closed listener is no error), with either
// engine; under -race it also shows that one engine serves several
// listeners at once without a data race.
func TestShutdownReportsTheFirstListenerCloseError(t *testing.T) {
	for _, engine := range []string{engineNetHTTP, engineFastHTTP} {
		t.Run(engine, func(t *testing.T) { testShutdownReportsTheFirstListenerCloseError(t, engine) })
	}
}

func testShutdownReportsTheFirstListenerCloseError(t *testing.T, engine string) {
	s, err := New(Options{Engine: engine})
	if err != nil {
		t.Fatal(err)
	}
	lns := []*failingListener{
		{err: net.ErrClosed, done: make(chan struct{})},
		{err: errors.New("first failure"), done: make(chan struct{})},
		{err: errors.New("second failure"), done: make(chan struct{})},
	}
	served := make(chan error, len(lns))
	for _, l := range lns {
		go func() { served <- s.Serve(l) }()
		deadline := time.Now().Add(5 * time.Second)
		for {
			s.mu.Lock()
			n := len(s.listeners)
			registered := n > 0 && s.listeners[n-1].Listener == l
			s.mu.Unlock()
			if registered {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("Serve did not register its listener within 5s")
			}
			time.Sleep(time.Millisecond)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = s.Shutdown(ctx)
	if err == nil || !strings.Contains(err.Error(), "first failure") || !strings.HasPrefix(err.Error(), "close listener 127.0.0.1:1: ") {
		t.Fatalf("Shutdown = %v, want the first listener's close error", err)
	}
	for range lns {
		if err := <-served; err != nil {
			t.Fatalf("Serve during a shutdown returned %v, want nil", err)
		}
	}
}
