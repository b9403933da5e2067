package supervisor

import "os"

// FailWorker tells the supervisor why this worker cannot start, before
// ServeWorker is reached: a server that cannot even be built (a TLS
// certificate that does not load, an access log that cannot be opened).
// The supervisor logs the reason once, and a reload stops there with the
// old workers still serving. FailWorker returns err, for the worker to
// exit non-zero with; outside a worker it only returns err.
func FailWorker(err error) error {
	if _, specErr := readSpec(); specErr != nil {
		return err
	}
	ch, chErr := fileConn(os.NewFile(channelFD, "spread-channel"))
	if chErr != nil {
		return err
	}
	defer ch.Close()
	_ = send(ch, msgFail, err.Error(), nil)
	return err
}
