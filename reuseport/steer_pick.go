//go:build !steerbycpu

package reuseport

import "github.com/cilium/ebpf/asm"

// pick loads into r8 what the program chooses among the eligible sockets
// by: the connection's flow hash (ctx.hash), the kernel's own choice, so
// balance among the eligible sockets is what it would be without steering.
// (A build with -tags steerbycpu picks by CPU instead, for the study in
// bench/study-steer.md, which it lost.)
func pick() asm.Instructions {
	return asm.Instructions{asm.LoadMem(asm.R8, asm.R6, mdHash, asm.Word)}
}
