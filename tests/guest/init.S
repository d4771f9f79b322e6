/*
 * The test guest's /init: spins forever without a single system call. Guest
 * user mode cannot make syscalls on the PVM hosts this project's CI runs on
 * (see docs/boot.md), and the boot test only needs init to be running: the
 * kernel panics if /init cannot be executed or exits.
 */
	.globl _start
	.text
_start:
	pause
	jmp _start
