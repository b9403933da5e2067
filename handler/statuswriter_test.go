package handler

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// userServer is a net/http Server around h, with its engine and recorder.
func userServer(t *testing.T, h http.HandlerFunc) (*Server, *netHTTP, *countingRecorder) {
	t.Helper()
	rec := &countingRecorder{}
	s, err := New(Options{Handler: h, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	return s, s.engine.(*netHTTP), rec
}

func TestUserHandlerStatusIsTheFirstFinalOne(t *testing.T) {
	for _, c := range []struct {
		name       string
		h          http.HandlerFunc
		wantStatus int
		wantBytes  int
	}{
		{"writes nothing", func(http.ResponseWriter, *http.Request) {}, 200, 0},
		{"writes a body", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("hello")); w.Write([]byte("!")) }, 200, 6},
		{"sets 200", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200); w.WriteHeader(500) }, 200, 0},
		{"1xx first", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(103); w.WriteHeader(404) }, 404, 0},
		{"two finals", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(201)
			w.WriteHeader(500)
			w.Write([]byte("x"))
		}, 201, 1},
	} {
		_, e, rec := userServer(t, c.h)
		w := httptest.NewRecorder()
		status, bytes := e.serveUser(w, httptest.NewRequest("GET", "/", nil))
		if status != c.wantStatus || bytes != c.wantBytes || rec.byStatus[c.wantStatus].Load() != 1 || rec.requests.Load() != 1 {
			t.Errorf("%s: status %d, %d bytes, recorded %d of %d; want %d, %d bytes, counted once",
				c.name, status, bytes, rec.byStatus[c.wantStatus].Load(), rec.requests.Load(), c.wantStatus, c.wantBytes)
		}
		// (httptest's recorder keeps a 1xx code as the reply's.)
		if c.name != "1xx first" && w.Code != c.wantStatus {
			t.Errorf("%s: the client got %d, want %d", c.name, w.Code, c.wantStatus)
		}
	}
}

func TestUserHandlerRepliesCarryConnectionCloseOnlyWhileDraining(t *testing.T) {
	s, e, _ := userServer(t, func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("x")) })
	w := httptest.NewRecorder()
	e.serveUser(w, httptest.NewRequest("GET", "/", nil))
	if got := w.Header().Get("Connection"); got != "" {
		t.Fatalf("Connection: %q before the drain", got)
	}
	s.draining.Store(true)
	w = httptest.NewRecorder()
	e.serveUser(w, httptest.NewRequest("GET", "/", nil))
	if got := w.Header().Get("Connection"); got != "close" {
		t.Fatalf("Connection: %q while draining, want close", got)
	}
	sw := &statusWriter{ResponseWriter: w, e: e}
	if sw.Unwrap() != w {
		t.Fatal("Unwrap does not reach the ResponseWriter")
	}
}
