/*
 * What minivmm-bench (vmm/bench.c) and its guest payload
 * (tests/payloads/exitbench.c) agree on: the addresses the payload's exits
 * go to, the control port, and the kinds of exit.
 *
 * The payload is also run under QEMU by `minivmm-bench --qemu`, so every
 * address here is chosen to be "nothing special" on QEMU's pc machine as
 * well: port 0x80 is a null device on both (minivmm's legacy POST-code port,
 * QEMU's ioport80), 0xd0000000 lies in both machines' PCI hole below any BAR
 * (minivmm's BAR window starts at 0xe0000000; SeaBIOS places BARs near 4 GiB),
 * 0xe9 is QEMU's isa-debugcon port.
 */
#ifndef MINIVMM_BENCH_ABI_H
#define MINIVMM_BENCH_ABI_H

/* The PIO payloads' target: a device that ignores writes and reads 0xff. */
#define BENCH_PIO_PORT 0x80
/* The MMIO payloads' target: minivmm-bench's null device; QEMU: unassigned. */
#define BENCH_MMIO_ADDR 0xd0000000u
#define BENCH_MMIO_LEN	0x1000u
/* Doorbells, each a KVM_IOEVENTFD: for the floor nobody reads the eventfd;
 * for minivmm's path a thread waits on it the way the NIC's worker does. */
#define BENCH_DOORBELL_FLOOR   0xd0001000u
#define BENCH_DOORBELL_MINIVMM 0xd0002000u
/* The payload writes its report here, one character at a time. */
#define BENCH_REPORT_PORT 0xe9
/* Round control, minivmm-bench only: the payload writes the kind of the round
 * it is about to run (32-bit), then reads one byte, the mode to run it in. */
#define BENCH_CTRL_PORT 0x5c0

#ifndef __ASSEMBLER__
enum bench_kind {
	BENCH_PIO_OUT,
	BENCH_PIO_IN,
	BENCH_MMIO_WRITE,
	BENCH_MMIO_READ,
	BENCH_DOORBELL,
	BENCH_HLT_TIMER,
	BENCH_KINDS
};

/* Modes, as the control port returns them; QEMU, which has no control port,
 * is the third. */
enum bench_mode { BENCH_MODE_FLOOR, BENCH_MODE_MINIVMM, BENCH_MODE_QEMU, BENCH_MODES };

/* Names, in the payload's report, the command line and the JSON output. */
#define BENCH_KIND_NAMES "pio_out", "pio_in", "mmio_write", "mmio_read", "doorbell", "hlt_timer"
#define BENCH_MODE_NAMES "floor", "minivmm", "qemu"
#endif

/* The timer interrupt's vector (the payload's IDT has one gate). */
#define BENCH_TIMER_VECTOR 0x40

#endif
