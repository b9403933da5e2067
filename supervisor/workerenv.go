package supervisor

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// CheckWorker reports whether a process that IsWorker says is a worker
// really was started by a spread supervisor: its spec parses and channelFD
// is the SOCK_SEQPACKET channel the supervisor gave it. A worker's
// failures are the supervisor's to log, so a worker stays quiet; a process
// that only has the environment variable (set by hand, or leaked from a
// worker into a shell) must say so instead. nil when this process is a
// real worker or no worker at all.
func CheckWorker() error {
	if !IsWorker() {
		return nil
	}
	wrong := func(why string) error {
		return fmt.Errorf("%s is set, but this process was not started by a spread supervisor (%s); unset %s", workerEnv, why, workerEnv)
	}
	typ, err := unix.GetsockoptInt(channelFD, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return wrong(fmt.Sprintf("fd %d is not its channel: %v", channelFD, err))
	}
	domain, err := unix.GetsockoptInt(channelFD, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil || typ != unix.SOCK_SEQPACKET || domain != unix.AF_UNIX {
		return wrong(fmt.Sprintf("fd %d is not its channel, a unix seqpacket socket", channelFD))
	}
	if _, err := readSpec(); err != nil {
		return wrong(err.Error())
	}
	return nil
}
