package supervisor

// FailWorker tells the supervisor why this worker cannot start, before
// ServeWorker is reached: a server that cannot even be built (a TLS
// certificate that does not load, an access log that cannot be opened).
// The supervisor logs the reason once, and a reload stops there with the
// old workers still serving. FailWorker returns err, for the worker to
// exit non-zero with; outside a worker it only returns err.
func FailWorker(err error) error {
	ws, setupErr := workerSetup()
	if setupErr != nil {
		return err
	}
	_ = send(ws.ch, msgFail, err.Error(), nil)
	return err
}
