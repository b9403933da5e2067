package spreadtest

import "github.com/spreadhttp/spread/internal/openloop"

// OpenLoop is an open-loop load (new connections at a fixed rate, one
// request each); see package openloop.
type OpenLoop = openloop.Load

// OpenLoopResult is what the clients of an OpenLoop saw.
type OpenLoopResult = openloop.Result
