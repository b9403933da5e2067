package spreadtest

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// SendJunk opens n connections to addr, 20 at a time, writes size bytes
// that are not HTTP on each (control bytes, quotes, newlines: the worst
// case for a log that quotes them), then reads until the server closes
// it.
func SendJunk(t testing.TB, addr string, n, size int) {
	t.Helper()
	junk := bytes.Repeat([]byte{0x01, 0xfe, 'x', '\n', '"'}, size/5)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 20)
	for range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Errorf("dial: %v", err)
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			_, _ = c.Write(junk)
			_, _ = io.Copy(io.Discard, c)
		}()
	}
	wg.Wait()
}
