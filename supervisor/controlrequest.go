package supervisor

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
)

// errScaleRequest is POST /scale's answer to a query it cannot read.
var errScaleRequest = errors.New("workers must be one integer of at least 1, as in /scale?workers=4")

// scaleRequest reads POST /scale's raw query: exactly one workers
// parameter, plain decimal digits (no sign, no space), at least 1. The
// supervisor then clamps it to MaxWorkers, so a large number is not an
// error unless it does not fit an int.
func scaleRequest(rawQuery string) (int, error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return 0, errScaleRequest
	}
	v := q["workers"]
	if len(v) != 1 || v[0] == "" || strings.TrimLeft(v[0], "0123456789") != "" {
		return 0, errScaleRequest
	}
	n, err := strconv.Atoi(v[0])
	if err != nil || n < 1 {
		return 0, errScaleRequest
	}
	return n, nil
}

// maxControlReply bounds a control answer the client reads.
const maxControlReply = 8 << 20
