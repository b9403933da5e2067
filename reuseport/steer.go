package reuseport

import (
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// Steering lets the owner of a reuseport group choose which socket of the
// group gets each new connection, instead of the kernel's plain hash over
// every socket: a BPF_PROG_TYPE_SK_REUSEPORT program picks among the
// sockets the owner marked as eligible, by the same flow hash the kernel
// would use, so balance among them is unchanged. With no eligible socket
// (or any lookup failing) the program selects nothing and the kernel falls
// back to its hash over all sockets: steering can only narrow the choice,
// never refuse a connection.
//
// Attached as BPF_SK_REUSEPORT_SELECT_OR_MIGRATE (Linux 5.14+), the same
// program also picks where the queued connections of a socket that is
// being closed go, with net.ipv4.tcp_migrate_req left at 0.
//
// Sockets are named by a small integer key (spread's slot index). A
// Steering is not safe for concurrent use.
type Steering struct {
	socks    *ebpf.Map // REUSEPORT_SOCKARRAY: key → socket
	eligible *ebpf.Map // ARRAY: [0] = count n, [1..n] = keys
	prog     *ebpf.Program
	migrates bool
	attached bool
	last     []uint32
}

// NewSteering loads the program and its maps for keys 0..maxKeys-1. It
// fails without CAP_BPF and CAP_NET_ADMIN (or root), or on a kernel
// without SK_REUSEPORT programs (Linux < 4.19).
func NewSteering(maxKeys int) (*Steering, error) {
	if maxKeys < 1 {
		return nil, errors.New("steering: no keys")
	}
	socks, err := ebpf.NewMap(&ebpf.MapSpec{Name: "spread_socks", Type: ebpf.ReusePortSockArray,
		KeySize: 4, ValueSize: 8, MaxEntries: uint32(maxKeys)})
	if err != nil {
		return nil, fmt.Errorf("steering: socket map: %w", err)
	}
	eligible, err := ebpf.NewMap(&ebpf.MapSpec{Name: "spread_eligible", Type: ebpf.Array,
		KeySize: 4, ValueSize: 4, MaxEntries: uint32(maxKeys) + 1})
	if err != nil {
		socks.Close()
		return nil, fmt.Errorf("steering: eligible map: %w", err)
	}
	s := &Steering{socks: socks, eligible: eligible}
	// Select-or-migrate first; a kernel before 5.14 knows only select.
	for _, at := range []ebpf.AttachType{ebpf.AttachSkReuseportSelectOrMigrate, ebpf.AttachSkReuseportSelect} {
		s.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{
			Name:         "spread_steer",
			Type:         ebpf.SkReuseport,
			AttachType:   at,
			Instructions: steerProgram(socks.FD(), eligible.FD()),
			License:      "Dual MIT/GPL",
		})
		if err == nil {
			s.migrates = at == ebpf.AttachSkReuseportSelectOrMigrate
			return s, nil
		}
	}
	s.Close()
	return nil, fmt.Errorf("steering: load program: %w", err)
}

// Offsets in struct sk_reuseport_md (include/uapi/linux/bpf.h): two
// pointers (data, data_end), then u32 len, eth_protocol, ip_protocol,
// bind_inany, hash.
const mdHash = 32

// skPass is SK_PASS: let the connection through, to the selected socket or,
// when none was selected, to the kernel's choice. skDrop is SK_DROP: the
// kernel finds no listener for the connection and answers its SYN with a
// RST (the client sees "connection refused"); on the migration path the
// queued connection is reset.
const (
	skDrop = 0
	skPass = 1
)

// refuseAll in eligible[0], where the count of eligible keys goes, makes
// the program refuse every new connection (RefuseAll).
const refuseAll = 0xffffffff

// steerProgram is the SK_REUSEPORT program:
//
//	n := eligible[0]; if n == 0 { return SK_PASS }          // kernel's hash
//	if n == refuseAll { return SK_DROP }                     // RefuseAll
//	key := eligible[1 + ctx.hash % n]
//	bpf_sk_select_reuseport(ctx, socks, &key, 0)             // failure: kernel's hash
//	return SK_PASS
func steerProgram(socksFD, eligibleFD int) asm.Instructions {
	prog := asm.Instructions{
		// r6 = ctx, kept across the helper calls (r1-r5 are clobbered).
		asm.Mov.Reg(asm.R6, asm.R1),
		// r0 = &eligible[0]: the count of eligible keys.
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, eligibleFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "pass"),
		// r7 = n; none eligible: leave the choice to the kernel.
		asm.LoadMem(asm.R7, asm.R0, 0, asm.Word),
		asm.JEq.Imm(asm.R7, 0, "pass"),
		// Every connection refused (RefuseAll): compared as 32 bits, as
		// the word was loaded.
		asm.JEq.Imm32(asm.R7, -1, "refuse"),
	}
	// r8 = what pick() loads (the flow hash), then 1 + r8 % n, the index
	// of the chosen key.
	prog = append(prog, pick()...)
	return append(prog,
		asm.Mod.Reg32(asm.R8, asm.R7),
		asm.Add.Imm32(asm.R8, 1),
		asm.StoreMem(asm.RFP, -8, asm.R8, asm.Word),
		// r0 = &eligible[r8].
		asm.LoadMapPtr(asm.R1, eligibleFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -8),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "pass"),
		// key = eligible[r8], on the stack for the helper.
		asm.LoadMem(asm.R9, asm.R0, 0, asm.Word),
		asm.StoreMem(asm.RFP, -12, asm.R9, asm.Word),
		// bpf_sk_select_reuseport(ctx, socks, &key, 0); its error (a key
		// with no socket) leaves nothing selected.
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.LoadMapPtr(asm.R2, socksFD),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, -12),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnSkSelectReuseport.Call(),
		asm.Mov.Imm(asm.R0, skPass).WithSymbol("pass"),
		asm.Return(),
		asm.Mov.Imm(asm.R0, skDrop).WithSymbol("refuse"),
		asm.Return(),
	)
}

// Migrates reports whether the program also chooses where a closing
// socket's queued connections go (select-or-migrate).
func (s *Steering) Migrates() bool { return s.migrates }

// Add puts the listening socket fd in the map under key, and attaches the
// program to fd's reuseport group if it is not attached yet (one attach
// serves the whole group). The socket is not eligible until SetEligible
// names its key.
func (s *Steering) Add(key int, fd int) error {
	if err := s.socks.Put(uint32(key), uint64(fd)); err != nil {
		return fmt.Errorf("steering: add socket %d: %w", key, err)
	}
	if !s.attached {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_EBPF, s.prog.FD()); err != nil {
			return fmt.Errorf("steering: attach: %w", err)
		}
		s.attached = true
	}
	return nil
}

// Remove takes key's socket out of the map. The kernel also drops a socket
// from the map by itself when it is closed.
func (s *Steering) Remove(key int) {
	_ = s.socks.Delete(uint32(key))
}

// SetEligible makes exactly keys eligible for new connections, in that
// order; it writes the maps only when the set changed. A connection that
// arrives while the maps are being written may still go to a key that was
// just taken out, never to no socket.
func (s *Steering) SetEligible(keys []int) error {
	next := make([]uint32, len(keys))
	for i, k := range keys {
		next[i] = uint32(k)
	}
	if s.last != nil && slices.Equal(next, s.last) {
		return nil
	}
	// Growing: the entries first, then the count; shrinking: the count
	// first. Either way the program never reads past what is written.
	if len(next) < len(s.last) {
		if err := s.eligible.Put(uint32(0), uint32(len(next))); err != nil {
			return fmt.Errorf("steering: %w", err)
		}
	}
	for i, k := range next {
		if err := s.eligible.Put(uint32(i+1), k); err != nil {
			return fmt.Errorf("steering: %w", err)
		}
	}
	if err := s.eligible.Put(uint32(0), uint32(len(next))); err != nil {
		return fmt.Errorf("steering: %w", err)
	}
	s.last = next
	return nil
}

// RefuseAll makes the program refuse every new connection from now on
// (SK_DROP: the client's SYN is answered with a RST), until the next
// SetEligible. Connections already queued stay where they are; so a server
// that stops can let its workers accept everything queued, with nothing
// arriving behind it, before any socket closes and resets its queue. A
// closing socket's queue is then not migrated either.
func (s *Steering) RefuseAll() error {
	if err := s.eligible.Put(uint32(0), uint32(refuseAll)); err != nil {
		return fmt.Errorf("steering: %w", err)
	}
	s.last = nil
	return nil
}

// Close releases the program and maps; an attached program stays with the
// group until its last socket closes. A nil Steering is a no-op.
func (s *Steering) Close() {
	if s == nil {
		return
	}
	for _, c := range []interface{ Close() error }{s.prog, s.eligible, s.socks} {
		if c != nil {
			_ = c.Close()
		}
	}
}

// Files duplicates the program's and maps' descriptors (program, socket
// map, eligible map) for another process to take the steering over with
// SteeringFromFiles; the caller closes them. A socket can be in one
// REUSEPORT_SOCKARRAY only, so a second supervisor of the same sockets
// must share these maps rather than make its own.
func (s *Steering) Files() ([]*os.File, error) {
	var out []*os.File
	for _, fd := range []int{s.prog.FD(), s.socks.FD(), s.eligible.FD()} {
		dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			for _, f := range out {
				f.Close()
			}
			return nil, fmt.Errorf("steering: dup: %w", err)
		}
		out = append(out, os.NewFile(uintptr(dup), "spread-steering"))
	}
	return out, nil
}

// SteeringFromFiles takes over a Steering another process made, from the
// descriptors its Files gave (program, socket map, eligible map), already
// attached to the group. It owns the descriptors from then on.
func SteeringFromFiles(prog, socks, eligible int, migrates bool) (*Steering, error) {
	p, err := ebpf.NewProgramFromFD(prog)
	if err != nil {
		return nil, fmt.Errorf("steering: inherited program: %w", err)
	}
	sm, err := ebpf.NewMapFromFD(socks)
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("steering: inherited socket map: %w", err)
	}
	em, err := ebpf.NewMapFromFD(eligible)
	if err != nil {
		p.Close()
		sm.Close()
		return nil, fmt.Errorf("steering: inherited eligible map: %w", err)
	}
	return &Steering{prog: p, socks: sm, eligible: em, migrates: migrates, attached: true}, nil
}

// DetachSteering removes whatever program steers the reuseport group of
// the listening socket fd (SO_DETACH_REUSEPORT_BPF, Linux 5.8+), leaving
// the kernel's hash alone.
func DetachSteering(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DETACH_REUSEPORT_BPF, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("steering: detach: %w", err)
	}
	return nil
}
