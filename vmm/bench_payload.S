/* minivmm-bench's guest, built from tests/payloads/exitbench.c, carried in
 * the program so that the bytes measured are the bytes built with it. */
	.section .rodata
	.balign 16
	.globl bench_payload, bench_payload_end
bench_payload:
	.incbin "exitbench.elf"
bench_payload_end:
	.section .note.GNU-stack, "", @progbits
