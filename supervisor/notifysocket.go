package supervisor

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"

	"golang.org/x/sys/unix"
)

// notifySocket is the sd_notify socket spread gives exec workers as
// $NOTIFY_SOCKET, so that a program written for systemd's Type=notify
// (READY=1, STATUS=, STOPPING=1, WATCHDOG=1) works unchanged under spread.
// Like systemd, spread learns who sent a datagram from the kernel
// (SO_PASSCRED, SCM_CREDENTIALS), not from its contents: only the pid of a
// worker of this supervisor is listened to.
//
// The socket lives in the abstract namespace ('@' in the variable), so it
// leaves no file behind when the supervisor is killed.
type notifySocket struct {
	name string
	conn *net.UnixConn
}

// note is one datagram of a worker: its sender's pid and its assignments.
type note struct {
	pid    int
	fields map[string]string
}

// maxNote bounds one datagram; systemd's limit is about as large.
const maxNote = 4096

func openNotifySocket() (*notifySocket, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	name := "@spread/notify/" + hex.EncodeToString(b[:])
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	rc, err := conn.SyscallConn()
	if err == nil {
		var sockErr error
		err = rc.Control(func(fd uintptr) {
			sockErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
		})
		err = errors.Join(err, sockErr)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("notify socket: SO_PASSCRED: %w", err)
	}
	return &notifySocket{name: name, conn: conn}, nil
}

// read delivers every datagram that carries its sender's credentials to
// deliver, until the socket is closed.
func (n *notifySocket) read(deliver func(note)) {
	buf, oob := make([]byte, maxNote), make([]byte, unix.CmsgSpace(unix.SizeofUcred)+unix.CmsgSpace(4*16))
	for {
		nb, noob, _, _, err := n.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		pid := senderPid(oob[:noob])
		if pid <= 0 {
			continue
		}
		deliver(note{pid: pid, fields: parseNote(string(buf[:nb]))})
	}
}

// senderPid is the pid the kernel vouches for in a datagram's ancillary
// data, or 0. Descriptors sent along (systemd's FDSTORE=1) are closed: spread
// stores none.
func senderPid(oob []byte) int {
	scms, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	pid := 0
	for i := range scms {
		scm := &scms[i]
		if scm.Header.Level != unix.SOL_SOCKET {
			continue
		}
		switch scm.Header.Type {
		case unix.SCM_CREDENTIALS:
			if cred, err := unix.ParseUnixCredentials(scm); err == nil {
				pid = int(cred.Pid)
			}
		case unix.SCM_RIGHTS:
			if fds, err := unix.ParseUnixRights(scm); err == nil {
				for _, fd := range fds {
					unix.Close(fd)
				}
			}
		}
	}
	return pid
}

// parseNote reads sd_notify's newline-separated VAR=VALUE assignments.
func parseNote(s string) map[string]string {
	fields := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && k != "" {
			fields[k] = v
		}
	}
	return fields
}

func (n *notifySocket) close() {
	if n != nil {
		n.conn.Close()
	}
}
