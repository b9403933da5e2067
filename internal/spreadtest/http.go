package spreadtest

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// This file holds the HTTP helpers: one fresh connection per request.

// Client returns an HTTP client that opens a new connection per request,
// so that every request is a fresh pick by the kernel's reuseport hash.
func Client() *http.Client {
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true},
	}
}

// Reply is one answered request.
type Reply struct {
	Status  int
	Body    string
	Worker  string // X-Worker: slot/pid
	Headers http.Header
	// Close reports "Connection: close" (net/http removes that header
	// from Headers and sets this instead).
	Close bool
}

// Get requests path from the server with a fresh connection.
func (s *Server) Get(path string) (Reply, error) {
	return Get(Client(), "http://"+s.Addr+path)
}

// Get requests url with c.
func Get(c *http.Client, url string) (Reply, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Reply{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return Reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Reply{}, err
	}
	return Reply{Status: resp.StatusCode, Body: string(b), Worker: resp.Header.Get("X-Worker"), Headers: resp.Header, Close: resp.Close}, nil
}

// WorkerPid is the pid in an X-Worker header ("slot/pid" from the
// built-in server, "pid" from the examples), 0 if there is none.
func (r Reply) WorkerPid() int {
	p := r.Worker
	if _, after, ok := strings.Cut(p, "/"); ok {
		p = after
	}
	pid, _ := strconv.Atoi(p)
	return pid
}
