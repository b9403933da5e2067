package reuseport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	goreuseport "github.com/libp2p/go-reuseport"
	"golang.org/x/sys/unix"
)

// Listen binds addr ("host:port") for TCP with SO_REUSEPORT and SO_REUSEADDR
// set before bind, so that every process of the same user that calls Listen
// on the same address joins one kernel reuseport group and gets its own
// accept queue; the kernel spreads new connections over the group by a hash
// of the 4-tuple.
//
// Multipath TCP is turned off: since Go 1.24 listeners default to MPTCP
// where the kernel offers it, and spread wants plain TCP sockets in its
// groups, whose TCP_INFO and /proc/net/tcp entries mean what [ListenQueueLen]
// and [Holders] expect.
//
// ctx bounds only the resolution of the host name. A failure reads
// "bind <addr>: <cause>", where cause is the plain kernel reason ("address
// already in use", "permission denied"); errors.Is still matches the errno
// (syscall.EADDRINUSE, syscall.EACCES).
func Listen(ctx context.Context, addr string) (*net.TCPListener, error) {
	return ListenWith(ctx, addr, Options{})
}

// Options are socket options beyond SO_REUSEPORT. The zero value means the
// kernel's defaults.
type Options struct {
	// DeferAccept sets TCP_DEFER_ACCEPT: the kernel queues a connection for
	// accept only once its first data (the request) has arrived, or after
	// this long. Zero leaves it off.
	DeferAccept time.Duration
	// Backlog is the accept-queue limit; zero keeps Go's choice
	// (net.core.somaxconn). The kernel caps it at somaxconn.
	Backlog int
}

// ListenWith is Listen with socket options.
func ListenWith(ctx context.Context, addr string, opts Options) (*net.TCPListener, error) {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		if err := goreuseport.Control(network, address, c); err != nil {
			return err
		}
		if opts.DeferAccept <= 0 {
			return nil
		}
		var serr error
		err := c.Control(func(fd uintptr) {
			secs := max(1, int(opts.DeferAccept/time.Second))
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, secs)
		})
		return errors.Join(err, serr)
	}}
	lc.SetMultipathTCP(false)
	l, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("bind %s: %w", addr, bindCause(err))
	}
	tl := l.(*net.TCPListener)
	if opts.Backlog > 0 {
		// listen(2) again on a listening socket only changes its backlog.
		rc, err := tl.SyscallConn()
		var lerr error
		if err == nil {
			err = rc.Control(func(fd uintptr) { lerr = unix.Listen(int(fd), opts.Backlog) })
		}
		if err = errors.Join(err, lerr); err != nil {
			tl.Close()
			return nil, fmt.Errorf("set backlog of %s: %w", addr, err)
		}
	}
	return tl, nil
}

// bindCause strips the "listen tcp <addr>: bind:" layers that net adds, so
// the user reads one short reason, while keeping the errno for errors.Is.
func bindCause(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// File returns a new descriptor for l's socket, for exec.Cmd.ExtraFiles or
// for sending with SCM_RIGHTS. The caller owns the file and must close it.
//
// The duplicate refers to the same kernel socket, so it keeps the socket and
// its accept queue alive after l is closed: connections keep queueing and
// are not reset until the last descriptor goes.
//
// Unlike l.File, the result stays non-blocking when its Fd method is called
// (exec.Cmd calls it for ExtraFiles). A dup shares the open file description,
// and thus O_NONBLOCK, with l; l.File's Fd would switch l itself to blocking
// mode, and a later l.Accept would then block an OS thread where Close
// cannot interrupt it.
//
// l is usually a *net.TCPListener; any listener with a descriptor (a
// *net.UnixListener, say) will do.
func File(l Listener) (*os.File, error) {
	rc, err := l.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("dup listener %s: %w", l.Addr(), err)
	}
	nfd := -1
	var dupErr error
	err = rc.Control(func(fd uintptr) {
		nfd, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	})
	if err == nil {
		err = dupErr
	}
	if err != nil {
		return nil, fmt.Errorf("dup listener %s: %w", l.Addr(), err)
	}
	return os.NewFile(uintptr(nfd), l.Addr().Network()+"-listener:"+l.Addr().String()), nil
}

// Listener is what File duplicates: a listener with a descriptor.
type Listener interface {
	syscall.Conn
	Addr() net.Addr
}

// FromFile rebuilds a TCP listener from an inherited socket file, as a worker
// does with the descriptors its supervisor passed. It first asks the kernel
// whether f is a socket in LISTEN state (SO_ACCEPTCONN), and refuses anything
// else: a regular file, a connected socket, a Unix socket.
//
// The listener holds its own duplicate of the descriptor; the caller still
// owns f and may close it.
func FromFile(f *os.File) (*net.TCPListener, error) {
	if err := checkListening(f); err != nil {
		return nil, fmt.Errorf("listener from %s: %w", f.Name(), err)
	}
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("listener from %s: %w", f.Name(), err)
	}
	tl, ok := l.(*net.TCPListener)
	if !ok {
		l.Close()
		return nil, fmt.Errorf("listener from %s: %s socket, not tcp", f.Name(), l.Addr().Network())
	}
	return tl, nil
}

// checkListening reports an error unless f is a socket in LISTEN state.
// It goes through SyscallConn rather than f.Fd, which could switch the
// shared descriptor to blocking mode.
func checkListening(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var accepting int
	var sockErr error
	err = rc.Control(func(fd uintptr) {
		accepting, sockErr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	})
	if err != nil {
		return err
	}
	if errors.Is(sockErr, unix.ENOTSOCK) {
		return errors.New("not a socket")
	}
	if sockErr != nil {
		return fmt.Errorf("getsockopt SO_ACCEPTCONN: %w", sockErr)
	}
	if accepting != 1 {
		return errors.New("socket is not listening")
	}
	return nil
}

// ValidateAddr checks a listen address the way a command line needs it
// checked, before anything is bound: "host:port", where port is a decimal
// number from 0 to 65535 (service names such as "http" are refused, so
// the port a user reads is the port spread binds) and host is empty (all
// addresses), an IP literal, or a name that resolves, such as "localhost".
//
// The error is one line naming the address and the problem, e.g.
// `invalid address "nonsense": missing port`. ValidateAddr does not check
// that the address is free or local; [Listen] reports that.
func ValidateAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid address %q: %s", addr, splitProblem(err))
	}
	if port == "" {
		return fmt.Errorf("invalid address %q: missing port", addr)
	}
	if _, err := parsePort(port); err != nil {
		return fmt.Errorf("invalid address %q: %w", addr, err)
	}
	if host == "" || net.ParseIP(stripZone(host)) != nil {
		return nil
	}
	if _, err := net.LookupHost(host); err != nil {
		return fmt.Errorf("invalid address %q: host %q does not resolve", addr, host)
	}
	return nil
}

// splitProblem turns net.SplitHostPort's "missing port in address" into
// "missing port", adding a hint for the usual IPv6 mistake.
func splitProblem(err error) string {
	var ae *net.AddrError
	if !errors.As(err, &ae) {
		return err.Error()
	}
	switch ae.Err {
	case "missing port in address":
		return "missing port"
	case "too many colons in address":
		return `too many colons (write an IPv6 address in brackets, as in "[::1]:8000")`
	}
	return ae.Err
}

// parsePort accepts only a decimal port number from 0 to 65535.
func parsePort(s string) (int, error) {
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("port %q is not a number", s)
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > 65535 {
		return 0, fmt.Errorf("port %s out of range 0-65535", s)
	}
	return n, nil
}

// stripZone drops an IPv6 zone ("fe80::1%eth0" -> "fe80::1").
func stripZone(host string) string {
	ip, _, _ := strings.Cut(host, "%")
	return ip
}
