//go:build steerbycpu

package reuseport

import "github.com/cilium/ebpf/asm"

// pick, in this bench-only build (-tags steerbycpu), loads into r8 the CPU
// that is processing the connection's SYN (bpf_get_smp_processor_id), so
// that with each worker pinned to its CPU a connection is served where its
// packets arrived. bench/study-steer.md measures it against the hash; it
// lost, so it is no option of spread's.
func pick() asm.Instructions {
	return asm.Instructions{
		asm.FnGetSmpProcessorId.Call(), // r0 = CPU; r1-r5 clobbered, r6-r9 kept
		asm.Mov.Reg(asm.R8, asm.R0),
	}
}
