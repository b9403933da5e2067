package handler

import (
	"strconv"
)

// The routes. Every other path answers like "/".
const (
	pathFavicon = "/favicon.ico" // 204, not counted
	pathHealth  = "/healthz"     // 200 "ok"; 503 "draining" while leaving
	pathDelay   = "/delay"       // ?ms=N: waits N ms, then answers like "/"

	maxDelayMillis = 60000
	contentType    = "text/plain; charset=utf-8"
)

// page is a precomputed answer. Its body is shared by every response and is
// never written to.
type page struct {
	status int
	body   []byte
}

// pages are the answers a Server gives, computed once in New so that the
// request path only copies references.
type pages struct {
	hello    page
	health   page
	leaving  page // /healthz while the server is leaving
	badDelay page
	xWorker  string // X-Worker value: "<slot>/<pid>"
}

func newPages(slot, pid int) pages {
	return pages{
		hello:    page{status: 200, body: []byte("Hello World from worker process " + strconv.Itoa(pid))},
		health:   page{status: 200, body: []byte("ok")},
		leaving:  leavingPage(),
		badDelay: page{status: 400, body: []byte("ms must be an integer between 0 and " + strconv.Itoa(maxDelayMillis))},
		xWorker:  strconv.Itoa(slot) + "/" + strconv.Itoa(pid),
	}
}

// delayMillis reads the ms parameter of /delay from a raw query string: the
// first "ms" pair, whose value must be plain decimal digits (no sign, no
// percent-encoding) between 0 and maxDelayMillis. Both engines call it on
// the undecoded query, so they accept exactly the same values.
func delayMillis[T string | []byte](query T) (int, bool) {
	for start := 0; start <= len(query); {
		end := start
		for end < len(query) && query[end] != '&' {
			end++
		}
		if end-start >= 2 && query[start] == 'm' && query[start+1] == 's' {
			switch {
			case end-start == 2:
				return 0, false // "ms" without a value
			case query[start+2] == '=':
				return parseMillis(query, start+3, end)
			}
		}
		start = end + 1
	}
	return 0, false
}

// parseMillis parses query[from:to] as a decimal in 0..maxDelayMillis.
func parseMillis[T string | []byte](query T, from, to int) (int, bool) {
	if from >= to {
		return 0, false
	}
	n := 0
	for i := from; i < to; i++ {
		c := query[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
		if n > maxDelayMillis {
			return 0, false
		}
	}
	return n, true
}
