#!/usr/bin/env python3
"""Writes the fuzz targets' seed inputs into tests/fuzz/seeds/<target>/.

Each seed is a meaningful input in the target's format (described at the top
of each tests/fuzz/fuzz_*.c): a ring with chains for the virtqueue walker, a
driver bringing virtio-net up and sending frames, receive rings with frames
of all sizes, the transport written while frames flow, a guest programming
config space and MSI-X, the test payload kernels with a command line and
initrd, Linux initialising its serial port, probing the i8042 and reading the
CMOS clock. The loader seeds take the kernels that the build assembles
(build/tests/payloads); run this after a build.

    tests/fuzz/make_seeds.py [BUILD_DIR]
"""
import os
import struct
import sys

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "build")
seeds = os.path.join(root, "tests", "fuzz", "seeds")


def write(target, name, data):
    d = os.path.join(seeds, target)
    os.makedirs(d, exist_ok=True)
    assert len(data) < 64 * 1024, (target, name, len(data))
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


u8 = lambda v: struct.pack("<B", v)
u16 = lambda v: struct.pack("<H", v)
u32 = lambda v: struct.pack("<I", v)
u64 = lambda v: struct.pack("<Q", v)
desc = lambda addr, ln, flags, nxt: struct.pack("<QIHH", addr, ln, flags, nxt)
NEXT, WRITE, INDIRECT = 1, 2, 4

# ---- fuzz_virtqueue: flags, size exponent, desc/avail/used, script, RAM ----
OP_POP, OP_PUSH, OP_UNPOP, OP_NOTIFY, OP_SET_NOTIFY, OP_WAIT, OP_POKE, OP_PUBLISH = range(8)


def vq_seed(flags, exp, d, a, u, script, ram):
    return u8(flags) + u8(exp) + u16(d) + u16(a) + u16(u) + u16(len(script)) + script + ram


def vq_ram(d, layout):
    ram = bytearray(0x3900)
    for i, (addr, ln, fl, nx) in enumerate(layout):
        ram[d + 16 * i:d + 16 * i + 16] = desc(addr, ln, fl, nx)
    return ram


script = (u8(OP_PUBLISH) + u16(0) + u8(OP_POP) + u8(OP_PUSH) + u32(128) + u8(OP_NOTIFY) +
          u8(OP_PUBLISH) + u16(2) + u8(OP_POP) + u8(OP_UNPOP) + u8(1) + u8(OP_POP) +
          u8(OP_PUSH | 0x80) + u32(0) + u8(OP_SET_NOTIFY | 0x80) + u8(OP_WAIT) + u16(0) +
          u8(OP_PUBLISH | 0x80) + u16(0) + u8(3) + u8(OP_POP) + u8(OP_POP) + u8(OP_POP) +
          u8(OP_NOTIFY))
ram = vq_ram(0, [(0x3000, 64, NEXT, 1), (0x3100, 128, WRITE, 0), (0x3800, 32, INDIRECT, 0)])
ram[0x3800:0x3820] = desc(0x3200, 12, NEXT, 1) + desc(0x3300, 1500, WRITE, 0)
write("fuzz_virtqueue", "chains_event_idx_indirect", vq_seed(3, 3, 0, 0x1000, 0x2000, script, bytes(ram)))
write("fuzz_virtqueue", "chains_plain", vq_seed(0, 4, 0, 0x1000, 0x2000, script, bytes(ram)))
# The rings above 4 GiB (FLAG_*_HIGH): the image's second 16 KiB.
hi = bytearray(0x4000) + vq_ram(0, [(0x100000000 + 0x3000, 64, NEXT, 1), (0x3100, 128, WRITE, 0)])
write("fuzz_virtqueue", "rings_high", vq_seed(0x71, 2, 0, 0x1000, 0x2000, script, bytes(hi)))

# ---- fuzz_virtio_net_tx: flags, features, queues, script, RAM ----
VERSION_1, CSUM, MRG_RXBUF, INDIRECT_DESC, EVENT_IDX = 1 << 32, 1 << 0, 1 << 15, 1 << 28, 1 << 29
HOST_TSO4, GUEST_CSUM = 1 << 11, 1 << 1


def net_seed(features, script, flags=1):
    queues = u8(3) + u32(0x1000) + u32(0x2000) + u32(0x3000)
    queues += u8(3) + u32(0x4000) + u32(0x5000) + u32(0x6000)
    return u8(flags) + u64(features) + queues + u16(len(script)) + script


def net_desc(q, i, addr, ln, flags, nxt=0):
    return u8(6 | q << 4) + u16(i) + u32(addr) + u16(ln) + u8(flags) + u16(nxt)


def publish(q, head, count=1, kick=True):
    return u8(5 | q << 4 | (0x40 if kick else 0)) + u16(head) + u8(count - 1)


frame = bytes(12) + bytes.fromhex("ffffffffffff525400123456") + b"\x08\x06" + bytes(46)
tx = (net_desc(1, 0, 0x8000, 12, NEXT, 1) + net_desc(1, 1, 0x8100, 60, 0) + publish(1, 0) +
      u8(9) +  # the host takes it
      net_desc(1, 2, 0x8200, 72, 0) + publish(1, 2) + u8(9) +
      net_desc(0, 0, 0x10000, 2048, WRITE) + publish(0, 0) +
      u8(8) + u16(len(frame)) + frame +  # a frame for the guest
      u8(4 | 0x10) + u8(2) + u8(0))  # kick TX, reset
write("fuzz_virtio_net_tx", "tx_rx_plain", net_seed(VERSION_1 | CSUM | HOST_TSO4, tx))
write("fuzz_virtio_net_tx", "tx_rx_event_idx_mrg",
      net_seed(VERSION_1 | EVENT_IDX | INDIRECT_DESC | MRG_RXBUF | GUEST_CSUM, tx))
# Ten frames without the host reading them: the socket fills up (EAGAIN).
many = b"".join(net_desc(1, i, 0x8000 + 0x100 * i, 72, 0) for i in range(8)) + publish(1, 0, 8)
write("fuzz_virtio_net_tx", "tx_backend_full", net_seed(VERSION_1, many + u8(9) + u8(4 | 0x10), flags=3))
# MSI-X on, vectors programmed, through BAR 0 (op 0) and config space (op 10).
msix = (u8(10 | 0x80 | 0x10) + u8(1) + u8(0) + u8(0x80) +  # MSI-X enable
        u8(0x80 | 0x20) + u16(0x4000) + u32(0xfee00000) +  # vector 0 address
        u8(0x80 | 0x20) + u16(0x400c) + u32(0) +  # unmask
        u8(1 | 0x80 | 0x10) + u8(0x1a) + u16(0))  # queue_msix_vector = 0
write("fuzz_virtio_net_tx", "msix", net_seed(VERSION_1 | EVENT_IDX, msix + tx))

# Regression: a driver clearing DRIVER_OK without a reset, then resetting and
# starting again (the device used to keep running through the reset).
clear = u8(2) + u8(0x03) + u8(2) + u8(0)  # tx without its final reset, then this
write("fuzz_virtio_net_tx", "status_clear_bits", net_seed(VERSION_1, tx[:-2] + clear))

# Regression: the first 10-million run's one finding, as libFuzzer wrote it.
# Queue 1's available index lies on queue 1's used->flags; the worker then
# looped in process_tx, deaf to reset (fixed in virtq_init).
import base64
write("fuzz_virtio_net_tx", "livelock_avail_idx_on_used_flags", base64.b64decode(
    "AwAAAAABAAAAAwAQAABAIAAAAAEAgKAAlEORGgAAFhwAAIAAAAwAAQEAkRoAABYAAQEAFgABQAgAgQAAAOD+oAxAAAAAABY0FA=="))

# ---- fuzz_pci_config: shape, bars, steps ----
def pci_seed(steps, shape=0x20, config_len=10, qmax_exp=8, features=VERSION_1 | MRG_RXBUF):
    return u8(shape) + u16(config_len) + u8(qmax_exp) + u64(features) + u8(4) + u8(2) + steps


# Reads carry data bytes too (the targets take them either way).
select_read = lambda slot, reg: u8(1) + u8(slot) + u8(reg) + u8(2) + u32(0)
select_write = lambda slot, reg, v: u8(1 | 0x80) + u8(slot) + u8(reg) + u8(2) + u32(v)
steps = (select_read(0, 0) + select_read(1, 0) + select_read(2, 0x10) +
         select_write(1, 0x10, 0xffffffff) + select_read(1, 0x10) +  # BAR sizing
         select_write(1, 0x10, 0xe0000000) + select_write(1, 0x04, 0x0406) +
         select_read(1, 0x34) + select_read(1, 0x40) +
         u8(8) + u32(0) + u32(1) + (u8(3) + u16(0x100) + u16(0x200) + u16(0x300)) * 2 +  # bring-up
         u8(9 | 0x80) + u8(3) + u8(0x80) +  # MSI-X enable
         u8(4 | 0x80) + u16(0) + u8(3) + u64(0xfee00000) +  # table entry 0
         u8(4 | 0x80) + u16(12) + u8(2) + u32(0) +  # unmask
         u8(6) + u8(0) + u8(6) + u8(1) + u8(6) + u8(3 | 4) +
         u8(4 | 0x10) + u16(0) + u8(2) + u32(0) +  # PBA read
         u8(5) + u32(0x1000) + u8(2) + u32(0) + u8(5 | 0x80) + u32(0x100) + u8(2) + u32(1) +
         u8(7 | 0x80) + u8(6) + u8(0))  # status 0
write("fuzz_pci_config", "bringup_msix", pci_seed(steps))
# The default step: which = bit 0 clear (the PCI_CFG capability), bits 1-4
# the byte after its first 4, bits 5-7 the width (2: 4 bytes, 0: 1 byte).
cfgcap = (u8(9 | 0x80) + u8(0x40 | 2 * 4) + u32(0x14) +  # offset = device_status
          u8(9 | 0x80) + u8(0x40 | 2 * 8) + u32(1) +  # length 1
          u8(9 | 0x80) + u8(2 * 12) + u8(1) +  # data: ACKNOWLEDGE
          u8(9) + u8(2 * 12) + u8(0))  # read back
# Regression: status bits cleared without a reset, then DRIVER_OK again.
status = lambda v: u8(7 | 0x80) + u8(6) + u8(v)
write("fuzz_pci_config", "status_clear_bits",
      pci_seed(steps[:-3] + status(0x03) + status(0x0f) + status(0x07) + status(0)))
write("fuzz_pci_config", "pci_cfg_window", pci_seed(cfgcap, shape=0xe0, config_len=0x1000))
isr_read = u8(3) + u16(0x1000) + u8(0) + u8(0)
intx = (u8(6) + u8(0) + u8(6) + u8(3 | 4) + select_write(1, 0x04, 0x0402) + u8(6) + u8(1) +
        select_write(1, 0x04, 0x0002) + isr_read + u8(6) + u8(3) + isr_read)
write("fuzz_pci_config", "intx", pci_seed(intx))

# ---- fuzz_loader: flags, cmdline, initrd, kernel ----
def loader_seed(kernel, cmdline=b"console=ttyS0", initrd=b"", ncpus=1):
    flags = (1 if initrd else 0) | (ncpus - 1) << 1
    return u8(flags) + u16(len(cmdline)) + cmdline + struct.pack("<I", len(initrd))[:3] + initrd + kernel


pay = os.path.join(build, "tests", "payloads")
for name, extra in [("hello.bzImage", {}), ("smp.bzImage", {"ncpus": 4}),
                    ("echo.bzImage", {"initrd": b"070701" + bytes(200)}),
                    ("pvh.elf", {"initrd": b"initrd" * 50}), ("nopvh.elf", {})]:
    with open(os.path.join(pay, name), "rb") as f:
        write("fuzz_loader", name, loader_seed(f.read(), **extra))

# ---- fuzz_uart: opcode bytes ----
def io(write_, off, data=b""):
    ln = {1: 0, 2: 1, 4: 2}[max(1, len(data))]
    return u8((1 if write_ else 0) | off << 2 | ln << 5) + (data or b"\0")


linux_init = (io(1, 3, b"\x80") + io(1, 0, b"\x01") + io(1, 1, b"\x00") + io(1, 3, b"\x03") +
              io(1, 2, b"\x07") + io(1, 4, b"\x0b") + io(1, 1, b"\x0f") + io(0, 2) + io(0, 5) +
              io(1, 0, b"h") + io(1, 0, b"i") + io(0, 2) + io(0, 6))
rx = u8(2) + u8(5) + b"hello" + u8(3) + u8(2 | 4) + u8(255) + bytes(range(256)) * 2
loop = io(1, 4, b"\x1f") + io(1, 0, b"x") + io(0, 6) + io(0, 0) + io(1, 4, b"\x0b") + io(1, 0, b"\x01\x02")
write("fuzz_uart", "linux_init", linux_init + rx)
write("fuzz_uart", "loopback", linux_init + loop + u8(3))

# ---- fuzz_i8042: opcode (bit 0 port 0x64, bit 1 write) and a byte ----
kbc_cmd = lambda c: u8(3) + u8(c)
kbc_data = lambda v: u8(2) + u8(v)
kbc_status, kbc_read = u8(1), u8(0)
# Linux's i8042 probe: flush, read and write the command byte, self-test,
# keyboard port test, AUX loop, enable; then the keyboard reset and echo.
linux_probe = (kbc_status + kbc_read + kbc_cmd(0x20) + kbc_status + kbc_read +
               kbc_cmd(0x60) + kbc_data(0x65) + kbc_cmd(0xAA) + kbc_read + kbc_cmd(0xAB) +
               kbc_read + kbc_cmd(0xD3) + kbc_data(0x5A) + kbc_status + kbc_read +
               kbc_cmd(0xA8) + kbc_cmd(0xAE) + kbc_data(0xFF) + kbc_read + kbc_read +
               kbc_data(0xEE) + kbc_read + kbc_cmd(0xD0) + kbc_read)
write("fuzz_i8042", "linux_probe", linux_probe)
# "reboot=k": the reset pulse; A20 and the reset line through the output port.
write("fuzz_i8042", "reboot", kbc_cmd(0xD1) + kbc_data(0xDF) + kbc_cmd(0xD0) + kbc_read +
      kbc_cmd(0xFE) + kbc_cmd(0xD1) + kbc_data(0x02))
# More replies than the 16-byte buffer holds, with the IRQ off and on.
write("fuzz_i8042", "overflow", kbc_cmd(0x60) + kbc_data(0x44) + kbc_data(0xFF) * 10 +
      kbc_cmd(0x60) + kbc_data(0x45) + kbc_read * 20)

# ---- fuzz_cmos: clock (5 bytes), then opcode (bit 0 write, bits 1-2 shape) ----
cmos_index = lambda r: u8(1) + u8(r)
cmos_rd = lambda r: cmos_index(r) + u8(2)
cmos_wr = lambda r, v: cmos_index(r) + u8(3) + u8(v)
cmos_clock = lambda t: struct.pack("<Q", t + 62167219200)[:5]
clock_regs = [0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32]
# Linux's mc146818_get_time(): UIP in A, the clock, B, the century.
linux_time = cmos_rd(0x0a) + b"".join(cmos_rd(r) for r in clock_regs) + cmos_rd(0x0b)
write("fuzz_cmos", "linux_get_time", cmos_clock(1795316645) + linux_time)
# Binary and 12-hour modes, in the afternoon of 1999-12-31; then a new clock.
write("fuzz_cmos", "modes", cmos_clock(946684798 - 8 * 3600) + cmos_wr(0x0b, 0x06) + linux_time +
      cmos_wr(0x0b, 0x00) + linux_time + cmos_wr(0x0b, 0x04) + linux_time + u8(6) +
      cmos_clock(4102444800) + linux_time)
# NMI-masked indexes, a 2-byte index+data write, RAM, A, C and D written.
write("fuzz_cmos", "ram_and_status", cmos_clock(0) + cmos_wr(0x80 | 0x40, 0x77) + cmos_rd(0x40) +
      u8(5) + u8(0x50) + u8(0x99) + u8(4) + cmos_wr(0x0a, 0xa6) + cmos_rd(0x0a) +
      cmos_wr(0x0c, 0xff) + cmos_rd(0x0c) + cmos_wr(0x0d, 0) + cmos_rd(0x0d) +
      cmos_wr(0x01, 0x30) + cmos_rd(0x01) + cmos_wr(0x00, 0x42) + cmos_rd(0x00))

# ---- fuzz_virtio_net_rx: features, size exponent, steps ----
RX_MRG, RX_TSO4, RX_TSO6, RX_EVENT_IDX, RX_INDIRECT = 1, 2, 4, 8, 16


def rx_post(chains, length, nseg=1, kick=True):
    return u8(0 | (nseg - 1) << 4 | (0x80 if kick else 0)) + u8(chains - 1) + u16(length)


def rx_frame(length, seed=0, hdr=bytes(12)):
    """A frame of length bytes in all, header included."""
    if length < 2048:
        return u8(5) + u16(length) + u8(seed) + hdr
    return u8(5 | 0x10) + u16(length - (65562 - 0x8000)) + u8(seed) + hdr


rx_refill, rx_kick = u8(10), u8(4)
rx_desc = lambda i, addr, ln, flags, nxt=0: u8(1) + u16(i) + u32(addr) + u16(ln) + u8(flags) + u16(nxt)
rx_avail = lambda slot, head: u8(2) + u16(slot) + u16(head)
rx_indirect = lambda lens: u8(9 | (len(lens) - 1) << 4) + b"".join(u16(n) for n in lens)
csum_hdr = bytes([1, 0]) + u16(0) + u16(0) + u16(34) + u16(16) + u16(0xffff)  # NEEDS_CSUM
# Linux with mergeable buffers: 1536-byte buffers, frames of all sizes, refills.
write("fuzz_virtio_net_rx", "mrg_linux", u8(RX_MRG | RX_EVENT_IDX | RX_INDIRECT) + u8(8) +
      rx_post(16, 1536) + rx_frame(72, 1, csum_hdr) + rx_frame(1530, 2) + rx_frame(300, 3) +
      rx_refill + rx_frame(1000, 4) + rx_frame(12, 5) + rx_refill)
# GUEST_TSO4 with mergeable buffers: 64 KiB frames over 43 buffers and more.
write("fuzz_virtio_net_rx", "mrg_tso_64k", u8(RX_MRG | RX_TSO4 | RX_EVENT_IDX) + u8(8) +
      rx_post(16, 1536, kick=False) * 2 + rx_post(16, 1536) + rx_frame(65562, 6, csum_hdr) +
      rx_frame(40000, 7) + rx_refill + rx_post(16, 1536) + rx_frame(65562, 8) + rx_refill)
# GUEST_TSO4 without: one chain of 64 KiB, direct and indirect.
write("fuzz_virtio_net_rx", "tso_big_chain", u8(RX_TSO4 | RX_TSO6 | RX_INDIRECT) + u8(4) +
      rx_post(1, 16400, nseg=4) + rx_frame(65562, 9) + rx_indirect([12, 20000, 20000, 25550]) +
      rx_frame(65000, 10) + rx_frame(65562 + 60, 11))
# Neither: small chains, frames too short, too long for a chain, empty.
write("fuzz_virtio_net_rx", "plain_odd_sizes", u8(0) + u8(2) + rx_post(4, 1530) +
      rx_frame(5) + rx_frame(0) + rx_frame(100, 12) + rx_frame(2000, 13) + rx_refill +
      rx_post(2, 64, nseg=2) + rx_frame(200, 14))
# A ring too small for a frame, all of it posted: what fits is delivered.
write("fuzz_virtio_net_rx", "mrg_ring_too_small", u8(RX_MRG) + u8(2) + rx_post(4, 256) +
      rx_frame(1500, 15) + rx_refill + rx_frame(400, 16))
# A driver rewriting descriptors and available entries between frames,
# and resets with frames waiting in the backend.
hostile = (rx_post(8, 600) + rx_frame(500, 17) + rx_desc(3, 0x3000, 4096, WRITE) +
           rx_avail(2, 3) + rx_frame(700, 18) + rx_desc(5, 0x1ff00, 0x200, WRITE) +
           rx_frame(300, 19) + u8(7) + rx_frame(900, 20) + rx_frame(60, 21) +
           u8(6) + u8(RX_MRG) + u8(5) + rx_post(16, 2048) + rx_frame(100, 22) +
           rx_desc(0, 0x4000, 64, NEXT | WRITE, 0) + rx_avail(5, 0) + rx_kick + rx_frame(64, 23))
write("fuzz_virtio_net_rx", "hostile_rewrites", u8(RX_MRG | RX_EVENT_IDX) + u8(4) + hostile)

# ---- fuzz_virtio_pci_race: steps, no waiting for the worker ----
race_up = lambda features, exp=6: u8(3) + u64(VERSION_1 | features) + u8(exp) + u8(exp)
race_rx = lambda n, first=0: u8(8 | (n - 1) << 4) + u16(first)
race_tx = lambda i, words=15: u8(9) + u16(i) + u8(words)
race_frame = lambda n: u8(10) + u16(n) + bytes(16)
race_status = lambda v: u8(2) + u8(v)
race_pause = lambda n: u8(15) + u8(n)
race_vector = lambda q, vec, masked=0: u8(6 | 0x40 | q << 5) + u8(vec) + u8(masked)
race_msix_on = lambda on=True, mask_all=False: u8(7) + u8((0x80 if on else 0) | (0x40 if mask_all else 0))
race_common = lambda off, v, width=2: u8(0 | {1: 0, 2: 1, 4: 2, 8: 3}[width] << 4) + u8(off) + v.to_bytes(width, "little")
flow = (race_rx(8) + race_frame(60) + race_frame(1514) + race_tx(0) + race_frame(300) +
        race_tx(1) + race_pause(50) + u8(11) + race_rx(4, 8) + race_frame(100))
write("fuzz_virtio_pci_race", "flow_then_reset",
      race_up(MRG_RXBUF | EVENT_IDX) + flow + race_status(0) + race_up(0) + flow + u8(12) +
      race_status(0) + flow)
# Queue set-up, features and status bits written while the worker runs.
write("fuzz_virtio_pci_race", "writes_while_running",
      race_up(EVENT_IDX | INDIRECT_DESC) + flow + u8(4) + u8(0) + u16(16) + u32(0x8000) +
      u32(0x9000) + u32(0xa000) + u8(5) + u8(1) + u32(0) + race_status(0x03) +
      race_common(0x16, 1) + race_common(0x18, 64) + race_common(0x1c, 1) + flow +
      race_status(0x0f) + race_status(0) + flow)
# MSI-X on and off, vectors and masks changing under the worker's interrupts.
write("fuzz_virtio_pci_race", "msix_under_load",
      race_up(MRG_RXBUF) + race_msix_on() + race_vector(0, 1) + race_vector(1, 2) +
      u8(6) + u8(0) + u8(0) + flow + race_vector(0, 1, 1) + race_msix_on(mask_all=True) + flow +
      race_msix_on(False) + flow + race_vector(1, 4) + u8(12) + race_status(0))
