/* vmm/exit.c: exit dispatch against a fabricated kvm_run page, two buses with
 * a recording device each, and real per-vCPU counters. No /dev/kvm: the
 * page is what KVM would have filled in, including what a broken host might
 * (data offsets past the page, impossible sizes). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "vmm/exit.h"

#define RUN_SIZE 8192 /* two pages, as KVM_GET_VCPU_MMAP_SIZE says on x86 */

/* One access a device saw. */
struct access {
	uint64_t offset;
	uint32_t len;
	bool is_write;
	uint8_t data[8];
	uint8_t *where; /* the pointer it was handed */
};

struct dev {
	struct access seen[8];
	unsigned n;
	uint8_t reply; /* what a read returns, then reply + 1, ... */
};

static void dev_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct dev *d = opaque;
	if (d->n < 8)
		d->seen[d->n] = (struct access){
		    .offset = offset, .len = len, .is_write = is_write, .where = data};
	if (is_write && d->n < 8)
		memcpy(d->seen[d->n].data, data, len);
	else if (!is_write)
		memset(data, d->reply++, len);
	d->n++;
}

static struct kvm_run *run;
static struct bus pio, mmio;
static struct dev port_dev, mmio_dev;
static struct unclaimed_log unclaimed;
static FILE *reports;
static struct vcpu_stats st;
static struct exit_env env;
static struct exit_stop why;

static void setup(void)
{
	run = aligned_alloc(4096, RUN_SIZE);
	memset(run, 0, RUN_SIZE);
	memset(&port_dev, 0, sizeof(port_dev));
	memset(&mmio_dev, 0, sizeof(mmio_dev));
	port_dev.reply = 0x10;
	mmio_dev.reply = 0x20;
	struct errbuf e;
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	ck_assert_int_eq(bus_register(&pio, 0x3f8, 8, "uart", dev_io, &port_dev, &e), 0);
	ck_assert_int_eq(bus_register(&mmio, 0xfe000000, 0x1000, "bar", dev_io, &mmio_dev, &e), 0);
	ck_assert_int_eq(bus_freeze(&pio, 1, &e), 0);
	ck_assert_int_eq(bus_freeze(&mmio, 1, &e), 0);
	reports = tmpfile();
	unclaimed_init(&unclaimed, reports);
	ck_assert_int_eq(vcpu_stats_init(&st, pio.count, mmio.count), 0);
	env = (struct exit_env){.id = 3,
				.run_size = RUN_SIZE,
				.pio = bus_reader(&pio, 0),
				.mmio = bus_reader(&mmio, 0),
				.unclaimed = &unclaimed};
	memset(&why, 0x55, sizeof(why));
}

static void teardown(void)
{
	vcpu_stats_free(&st);
	unclaimed_destroy(&unclaimed);
	fclose(reports);
	bus_free(&pio);
	bus_free(&mmio);
	free(run);
}

static const char *reported(void)
{
	static char buf[1024];
	fflush(reports);
	size_t n = (size_t)pread(fileno(reports), buf, sizeof(buf) - 1, 0);
	buf[n < sizeof(buf) ? n : 0] = '\0';
	return buf;
}

static void pio_exit(uint16_t port, uint8_t size, uint32_t count, bool out, uint64_t offset)
{
	run->exit_reason = KVM_EXIT_IO;
	run->io.direction = out ? KVM_EXIT_IO_OUT : KVM_EXIT_IO_IN;
	run->io.size = size;
	run->io.port = port;
	run->io.count = count;
	run->io.data_offset = offset;
}

static enum exit_kind dispatch(void)
{
	return exit_dispatch(run, &env, &st, &why);
}

START_TEST(test_port_write_reaches_its_device)
{
	pio_exit(0x3fb, 1, 1, true, 4096);
	((uint8_t *)run)[4096] = 0x83;
	ck_assert_int_eq(dispatch(), EXIT_RUN_AGAIN);
	ck_assert_uint_eq(port_dev.n, 1);
	ck_assert_uint_eq(port_dev.seen[0].offset, 3); /* relative to the range */
	ck_assert_uint_eq(port_dev.seen[0].len, 1);
	ck_assert(port_dev.seen[0].is_write);
	ck_assert_uint_eq(port_dev.seen[0].data[0], 0x83);
	ck_assert_uint_eq(st.exits[KVM_EXIT_IO], 1);
	ck_assert_uint_eq(st.pio_hits[0], 1);
	ck_assert_ptr_eq(st.range_lat, stats_pio_lat(&st, 0));
}
END_TEST

/* rep insw, count 3: the device is called once per element, each at its
 * place in the data area, and the counters say 3 accesses. */
START_TEST(test_rep_in_fills_each_element)
{
	pio_exit(0x3f8, 2, 3, false, 4096);
	ck_assert_int_eq(dispatch(), EXIT_RUN_AGAIN);
	ck_assert_uint_eq(port_dev.n, 3);
	uint8_t *data = (uint8_t *)run + 4096;
	for (unsigned i = 0; i < 3; i++) {
		ck_assert_ptr_eq(port_dev.seen[i].where, data + 2 * i);
		ck_assert_uint_eq(data[2 * i], 0x10 + i);
		ck_assert_uint_eq(data[2 * i + 1], 0x10 + i);
	}
	ck_assert_uint_eq(st.pio_hits[0], 3);
}
END_TEST

/* Nothing at the port: reads float to all ones, once reported. */
START_TEST(test_unclaimed_port_reads_ones)
{
	pio_exit(0x80, 4, 2, false, 4096);
	ck_assert_int_eq(dispatch(), EXIT_RUN_AGAIN);
	const uint8_t *data = (uint8_t *)run + 4096;
	for (unsigned i = 0; i < 8; i++)
		ck_assert_uint_eq(data[i], 0xff);
	ck_assert_uint_eq(data[8], 0);
	ck_assert_uint_eq(st.pio_unclaimed, 2);
	ck_assert_ptr_eq(st.range_lat, stats_pio_lat(&st, -1));
	ck_assert_int_eq(dispatch(), EXIT_RUN_AGAIN);
	ck_assert_ptr_nonnull(strstr(reported(), "port 0x80"));
	ck_assert_ptr_null(strstr(strstr(reported(), "port 0x80") + 1, "port 0x80"));
	ck_assert_uint_eq(port_dev.n, 0);
}
END_TEST

/* An access straddling the end of a range belongs to no device. */
START_TEST(test_straddling_access_is_unclaimed)
{
	pio_exit(0x3ff, 2, 1, true, 4096);
	ck_assert_int_eq(dispatch(), EXIT_RUN_AGAIN);
	ck_assert_uint_eq(port_dev.n, 0);
	ck_assert_uint_eq(st.pio_unclaimed, 1);
}
END_TEST

/* What no sane KVM reports, and must not make us write past the page. */
START_TEST(test_impossible_io_exits_stop)
{
	const struct {
		uint8_t size;
		uint32_t count;
		uint64_t offset;
	} bad[] = {
	    {1, 1, RUN_SIZE},		   /* data starts past the page */
	    {4, 2, RUN_SIZE - 4},	   /* and ends past it */
	    {2, 0x80000000u, 4096},	   /* a count that wraps 32 bits */
	    {0, 1, 4096},		   /* no size */
	    {16, 1, 4096},		   /* more than 8 bytes */
	    {1, 1, 0xffffffffffffffffull}, /* an offset that wraps */
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pio_exit(0x3f8, bad[i].size, bad[i].count, false, bad[i].offset);
		ck_assert_int_eq(dispatch(), EXIT_STOP);
		ck_assert_int_eq(why.status, 1);
		ck_assert_str_eq(why.reason, "vCPU 3: KVM reported an impossible I/O exit");
		ck_assert_str_eq(why.detail, "");
	}
	ck_assert_uint_eq(port_dev.n, 0);
}
END_TEST

START_TEST(test_mmio)
{
	run->exit_reason = KVM_EXIT_MMIO;
	run->mmio.phys_addr = 0xfe000010;
	run->mmio.len = 4;
	run->mmio.is_write = 1;
	memcpy(run->mmio.data, "\x01\x02\x03\x04", 4);
	ck_assert_int_eq(dispatch(), EXIT_RUN_AGAIN);
	ck_assert_uint_eq(mmio_dev.n, 1);
	ck_assert_uint_eq(mmio_dev.seen[0].offset, 0x10);
	ck_assert_int_eq(memcmp(mmio_dev.seen[0].data, "\x01\x02\x03\x04", 4), 0);
	ck_assert_uint_eq(st.mmio_hits[0], 1);

	run->mmio.is_write = 0;
	run->mmio.phys_addr = 0xfd000000; /* nothing there */
	ck_assert_int_eq(dispatch(), EXIT_RUN_AGAIN);
	ck_assert_int_eq(memcmp(run->mmio.data, "\xff\xff\xff\xff", 4), 0);
	ck_assert_uint_eq(st.mmio_unclaimed, 1);
	ck_assert_ptr_eq(st.range_lat, stats_mmio_lat(&st, -1));
	ck_assert_ptr_nonnull(strstr(reported(), "MMIO address 0xfd000000"));

	run->mmio.len = 0;
	ck_assert_int_eq(dispatch(), EXIT_STOP);
	ck_assert_str_eq(why.reason, "vCPU 3: KVM reported an impossible MMIO exit");
	run->mmio.len = 9;
	ck_assert_int_eq(dispatch(), EXIT_STOP);
	ck_assert_uint_eq(mmio_dev.n, 1);
	ck_assert_uint_eq(st.exits[KVM_EXIT_MMIO], 4);
}
END_TEST

/* Each exit that ends the VM: its status, reason, and whether registers are
 * dumped first. */
START_TEST(test_stops)
{
	const struct {
		uint32_t reason;
		uint32_t event;
		int status;
		bool dump;
		const char *why;
	} cases[] = {
	    {KVM_EXIT_HLT, 0, 0, false, "vCPU 3 halted with no way to wake it"},
	    {KVM_EXIT_SHUTDOWN, 0, 1, true, "guest triple-faulted on vCPU 3"},
	    {KVM_EXIT_SYSTEM_EVENT, KVM_SYSTEM_EVENT_SHUTDOWN, 0, false, "guest powered off"},
	    {KVM_EXIT_SYSTEM_EVENT, KVM_SYSTEM_EVENT_RESET, 0, false, "guest reset"},
	    {KVM_EXIT_SYSTEM_EVENT, KVM_SYSTEM_EVENT_CRASH, 1, false,
	     "guest system event 3 (crash) on vCPU 3"},
	    {KVM_EXIT_FAIL_ENTRY, 0, 1, true, "vCPU 3: VM entry failed, hardware reason 0x7"},
	    {999, 0, 1, true, "vCPU 3: unexpected KVM exit 999 (other)"},
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(run, 0, sizeof(*run));
		run->exit_reason = cases[i].reason;
		run->system_event.type = cases[i].event;
		if (cases[i].reason == KVM_EXIT_FAIL_ENTRY)
			run->fail_entry.hardware_entry_failure_reason = 7;
		ck_assert_int_eq(dispatch(), EXIT_STOP);
		ck_assert_int_eq(why.status, cases[i].status);
		ck_assert_msg(!!why.dump == cases[i].dump, "case %u: dump %s", i,
			      why.dump ? why.dump : "none");
		ck_assert_str_eq(why.reason, cases[i].why);
	}
	/* A signal (the stop kick): run again; the loop looks at stopping. */
	run->exit_reason = KVM_EXIT_INTR;
	ck_assert_int_eq(dispatch(), EXIT_RUN_AGAIN);
	ck_assert_uint_eq(st.exits[stats_exit_slot(999)], 1);
}
END_TEST

START_TEST(test_internal_errors)
{
	run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
	run->internal.suberror = KVM_INTERNAL_ERROR_DELIVERY_EV;
	run->internal.ndata = 40; /* more than the 16 KVM has room for */
	for (unsigned i = 0; i < 16; i++)
		run->internal.data[i] = 0xa0 + i;
	ck_assert_int_eq(dispatch(), EXIT_STOP);
	ck_assert_str_eq(why.reason, "vCPU 3: KVM internal error (suberror 3)");
	ck_assert_ptr_nonnull(why.dump);
	ck_assert_ptr_nonnull(strstr(why.detail, "suberror 3, data: a0 a1 a2"));
	ck_assert_uint_lt(strlen(why.detail), sizeof(why.detail));

	/* An instruction KVM could not emulate, with its bytes... */
	memset(run, 0, sizeof(*run));
	run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
	run->emulation_failure.suberror = KVM_INTERNAL_ERROR_EMULATION;
	run->emulation_failure.ndata = 3;
	run->emulation_failure.flags = KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES;
	run->emulation_failure.insn_size = 200; /* clamped to the 15 there are */
	run->emulation_failure.insn_bytes[0] = 0x0f;
	run->emulation_failure.insn_bytes[1] = 0x01;
	run->emulation_failure.insn_bytes[2] = 0xca;
	ck_assert_int_eq(dispatch(), EXIT_NOT_EMULATED);
	ck_assert_uint_eq(why.insn_len, sizeof(run->emulation_failure.insn_bytes));
	ck_assert_int_eq(memcmp(why.insn, "\x0f\x01\xca", 3), 0);
	/* ...and without: the vCPU loop reads them at RIP. */
	run->emulation_failure.flags = 0;
	ck_assert_int_eq(dispatch(), EXIT_NOT_EMULATED);
	ck_assert_uint_eq(why.insn_len, 0);
}
END_TEST

CHECK_MAIN_WITH("exit", setup, teardown, 10, test_port_write_reaches_its_device,
		test_rep_in_fills_each_element, test_unclaimed_port_reads_ones,
		test_straddling_access_is_unclaimed, test_impossible_io_exits_stop, test_mmio,
		test_stops, test_internal_errors)
