package main

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestLogSinkNeverBlocksAndCountsWhatItDrops(t *testing.T) {
	pr, pw := io.Pipe() // every write blocks until read: a stalled reader
	sink := newLogSink(pw, 8, func(w io.Writer) zerolog.Logger { return zerolog.New(w) })
	log := zerolog.New(sink)
	const sent = 100
	wrote := make(chan struct{})
	go func() {
		for i := range sent {
			log.Info().Int("i", i).Msg("line")
		}
		close(wrote)
	}()
	select {
	case <-wrote:
	case <-time.After(5 * time.Second):
		t.Fatal("logging blocked on a stalled writer")
	}
	var got bytes.Buffer
	read := make(chan struct{})
	go func() {
		_, _ = io.Copy(&got, pr)
		close(read)
	}()
	sink.close()
	pw.Close()
	<-read
	lines, dropped := 0, 0
	for _, line := range strings.Split(strings.TrimSpace(got.String()), "\n") {
		var ev struct {
			Message string
			Dropped int
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		switch ev.Message {
		case "line":
			lines++
		case "log lines dropped":
			dropped += ev.Dropped
		}
	}
	if dropped == 0 {
		t.Fatalf("no 'log lines dropped' event; the writer got:\n%s", got.String())
	}
	if lines+dropped != sent {
		t.Fatalf("%d lines written and %d reported dropped, want %d in all", lines, dropped, sent)
	}
}
