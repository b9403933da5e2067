package spreadtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"sync"
)

// This file collects and parses a server's JSON log.

// Log collects a process's stderr, safe for concurrent use.
type Log struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything written so far.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Events returns the JSON log lines whose "message" is msg, in order;
// every line when msg is "".
func (l *Log) Events(msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(l.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev map[string]any
		if json.Unmarshal(sc.Bytes(), &ev) == nil && (msg == "" || ev["message"] == msg) {
			out = append(out, ev)
		}
	}
	return out
}
