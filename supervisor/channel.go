package supervisor

import (
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// The channel is a SOCK_SEQPACKET socket pair between the supervisor and one
// worker. Seqpacket keeps message boundaries (one message is one event) and,
// unlike a pipe, carries file descriptors (SCM_RIGHTS). Each side notices
// the other is gone by EOF: that is how a worker learns that its supervisor
// died, whatever signal killed it.
//
// Worker to supervisor messages are short ASCII words with an optional
// argument:
//
//	ready        listener bound; may carry the listener fd (SCM_RIGHTS)
//	beat         heartbeat
//	fail REASON  the worker cannot start; it exits next
//	socket       exec mode: the listener the worker bound (SCM_RIGHTS)
//	exec PATH    exec mode: the worker is about to execve PATH; EOF follows
//	version V    the spread version of the worker's binary
//	spare        a spare waits for a slot (see spare.go)
//
// Supervisor to worker, to a spare only:
//
//	take SLOT    the spare becomes SLOT's worker; carries the slot's socket
const (
	msgReady   = "ready"
	msgBeat    = "beat"
	msgFail    = "fail"
	msgSocket  = "socket"
	msgExec    = "exec"
	msgVersion = "version"
	msgSpare   = "spare"
	msgTake    = "take"
)

// maxMessage bounds one message; a fail reason longer than this is cut.
const maxMessage = 1024

// newChannel returns the supervisor's end and the worker's end of a new
// channel. Both are close-on-exec; the worker's end reaches the child only
// through exec.Cmd.ExtraFiles.
func newChannel() (parent *net.UnixConn, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	pf := os.NewFile(uintptr(fds[0]), "spread-channel")
	defer pf.Close()
	parent, err = fileConn(pf)
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, err
	}
	return parent, os.NewFile(uintptr(fds[1]), "spread-channel-worker"), nil
}

// fileConn turns a socket file into a *net.UnixConn (dup'ing it).
func fileConn(f *os.File) (*net.UnixConn, error) {
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("channel: %w", err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("channel: fd is a %T, not a unix socket", c)
	}
	return uc, nil
}

// send writes one message, with file f attached when it is not nil.
func send(c *net.UnixConn, word, arg string, f *os.File) error {
	msg := word
	if arg != "" {
		msg += " " + strings.ReplaceAll(arg, "\n", " ")
	}
	if len(msg) > maxMessage {
		msg = msg[:maxMessage]
	}
	var oob []byte
	if f != nil {
		oob = unix.UnixRights(int(f.Fd()))
	}
	_, _, err := c.WriteMsgUnix([]byte(msg), oob, nil)
	return err
}

// message is one event received on a channel.
type message struct {
	word string
	arg  string
	fd   int // a descriptor the message carried, -1 if none
}

// receive reads one message. It returns io.EOF once the other side has
// closed its end or died.
func receive(c *net.UnixConn, buf, oob []byte) (message, error) {
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return message{}, err
	}
	if n == 0 && oobn == 0 {
		// A zero-length read on a seqpacket socket is the peer's EOF
		// (net reports it as io.EOF itself; this keeps the contract).
		return message{}, io.EOF
	}
	word, arg, _ := strings.Cut(string(buf[:n]), " ")
	m := message{word: word, arg: arg, fd: -1}
	if oobn > 0 {
		fd, err := parseRights(oob[:oobn])
		if err != nil {
			return m, err
		}
		m.fd = fd
	}
	return m, nil
}

// parseRights returns the one descriptor a message carried, close-on-exec,
// or -1. It stays a raw descriptor on purpose: wrapping a non-blocking
// socket in an *os.File registers it with Go's poller, and a listening
// socket would then wake the supervisor for every incoming connection.
func parseRights(oob []byte) (int, error) {
	scms, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return -1, fmt.Errorf("channel: %w", err)
	}
	fd := -1
	for _, scm := range scms {
		fds, err := unix.ParseUnixRights(&scm)
		if err != nil {
			continue
		}
		for _, f := range fds {
			unix.CloseOnExec(f)
			if fd < 0 {
				fd = f
			} else {
				unix.Close(f) // only one descriptor is ever expected
			}
		}
	}
	return fd, nil
}

// oobSpace is the control buffer size for one descriptor.
var oobSpace = unix.CmsgSpace(4)
