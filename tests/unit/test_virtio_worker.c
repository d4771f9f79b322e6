/* The generic virtio worker (virtio/virtio_worker.c) running a fake engine
 * that records what it is asked: mostly in manual mode, where the test runs
 * the worker's turns itself (no thread, no sleeps, no polling), and once
 * with its thread, for activate and reset as events. The transport is the
 * real one, with its doorbell eventfds; a datagram socketpair is the
 * backend. */
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_main.h"
#include "stub_device.h"
#include "virtio/virtio_worker.h"

#define RAM	  (1u << 16)
#define MAX_RUNS  64
#define NO_THREAD 0

static struct guest_mem mem;
static struct virtio_pci vp;
static struct virtio_worker w;
static int dev_fd = -1, peer = -1;

/* What the engine was asked, and what its next verdicts say. */
static struct {
	int activated, deactivated, settled, lost;
	pthread_t activated_on;
	int nruns;
	struct {
		uint16_t q;
		unsigned why;
	} runs[MAX_RUNS];
	struct virtio_verdict next[2]; /* returned by each queue's runs */
	int more_left[2];	       /* runs that still say "more" */
} eng;

static struct virtio_verdict run(uint16_t q, unsigned why)
{
	if (eng.nruns < MAX_RUNS)
		eng.runs[eng.nruns] = (typeof(eng.runs[0])){q, why};
	eng.nruns++;
	struct virtio_verdict v = eng.next[q];
	v.more = eng.more_left[q] > 0;
	if (eng.more_left[q] > 0)
		eng.more_left[q]--;
	return v;
}

static struct virtio_verdict run_q0(void *ctx, unsigned why)
{
	(void)ctx;
	return run(0, why);
}

static struct virtio_verdict run_q1(void *ctx, unsigned why)
{
	(void)ctx;
	return run(1, why);
}

static void on_activate(void *ctx)
{
	(void)ctx;
	eng.activated++;
	eng.activated_on = pthread_self();
}

static void on_deactivate(void *ctx)
{
	(void)ctx;
	eng.deactivated++;
}

static void on_settle(void *ctx)
{
	(void)ctx;
	eng.settled++;
}

static void on_lost(void *ctx)
{
	(void)ctx;
	eng.lost++;
}

static struct stub_device dev;

static void start(bool threaded)
{
	struct errbuf e;
	const struct virtio_engine engine = {.ctx = NULL,
					     .backend_fd = dev_fd,
					     .nqueues = 2,
					     .run = {run_q0, run_q1},
					     .activate = on_activate,
					     .deactivate = on_deactivate,
					     .settle = on_settle,
					     .backend_lost = on_lost};
	const struct virtio_worker_thread manual = {.manual = true};
	ck_assert_int_eq(
	    virtio_worker_init(&w, &vp, &engine, threaded ? NULL : &manual, "test", &e), 0);
}

static void setup(void)
{
	memset(&eng, 0, sizeof(eng));
	guest_mem_layout(&mem, RAM);
	mem.host = calloc(1, RAM);
	ck_assert_int_eq(
	    virtio_pci_init(&vp, "virtio-test", &stub_device_ops, &dev, &mem, NULL, -1, NULL), 0);
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv), 0);
	dev_fd = sv[0];
	peer = sv[1];
}

static void teardown(void)
{
	virtio_worker_destroy(&w);
	virtio_pci_destroy(&vp);
	close(dev_fd);
	if (peer >= 0)
		close(peer);
	free(mem.host);
}

/* Turns until the worker is idle; how many were busy. */
static int settle(void)
{
	int n = 0;
	while (virtio_worker_turn(&w))
		ck_assert_int_lt(++n, 100);
	return n;
}

static void kick(uint16_t q)
{
	ck_assert_int_eq(eventfd_write(virtio_pci_kick_fd(&vp, q), 1), 0);
}

/* Activation: the engine's activate hook first, then every queue runs once
 * (buffers and doorbells may predate DRIVER_OK), for no reason in
 * particular; then the worker is idle. */
START_TEST(test_activate_runs_every_queue_once)
{
	start(NO_THREAD);
	ck_assert(!virtio_worker_turn(&w)); /* not running: nothing to do */
	virtio_worker_activate(&w);
	ck_assert(w.running);
	ck_assert_int_eq(eng.activated, 1);
	settle();
	ck_assert_int_eq(eng.nruns, 2);
	ck_assert_uint_eq(eng.runs[0].q, 0);
	ck_assert_uint_eq(eng.runs[0].why, 0);
	ck_assert_uint_eq(eng.runs[1].q, 1);
	ck_assert_int_ge(eng.settled, 1);
	ck_assert(!virtio_worker_turn(&w));
	ck_assert_uint_eq(w.runs, 2);
}
END_TEST

/* A doorbell wakes its own queue only, says so, and is drained. */
START_TEST(test_doorbell_wakes_its_queue)
{
	start(NO_THREAD);
	virtio_worker_activate(&w);
	settle();
	eng.nruns = 0;
	kick(1);
	kick(1);
	settle();
	ck_assert_int_eq(eng.nruns, 1);
	ck_assert_uint_eq(eng.runs[0].q, 1);
	ck_assert_uint_eq(eng.runs[0].why, VIRTIO_RUN_KICKED);
	eventfd_t left;
	ck_assert_int_eq(eventfd_read(virtio_pci_kick_fd(&vp, 1), &left), -1); /* drained */
}
END_TEST

/* The backend wakes only the queues whose last verdict waits for what it
 * reports, level-triggered, and tells them it is ready. */
START_TEST(test_backend_wakes_its_waiters)
{
	start(NO_THREAD);
	eng.next[0].wait = EPOLLIN;
	virtio_worker_activate(&w);
	settle();
	eng.nruns = 0;
	ck_assert_int_eq(send(peer, "x", 1, 0), 1);
	ck_assert(virtio_worker_turn(&w)); /* the event */
	ck_assert(virtio_worker_turn(&w)); /* the run */
	ck_assert_int_eq(eng.nruns, 1);
	ck_assert_uint_eq(eng.runs[0].q, 0);
	ck_assert_uint_eq(eng.runs[0].why, VIRTIO_RUN_READY);
	/* Still readable (nobody read it), and queue 0 still waits for
	 * input: woken again. Once it stops waiting, it is not. */
	eng.next[0].wait = 0;
	settle();
	int runs = eng.nruns;
	settle();
	ck_assert_int_eq(eng.nruns, runs);
}
END_TEST

/* "More" runs a queue again, at most 4 times a turn, so that a busy queue
 * cannot keep the worker from its events. */
START_TEST(test_more_is_bounded_per_turn)
{
	start(NO_THREAD);
	virtio_worker_activate(&w);
	settle();
	eng.nruns = 0;
	eng.more_left[0] = 10;
	kick(0);
	ck_assert(virtio_worker_turn(&w)); /* the doorbell */
	ck_assert(virtio_worker_turn(&w));
	ck_assert_int_eq(eng.nruns, 4);
	settle();
	ck_assert_int_eq(eng.nruns, 11); /* 10 with more, then one without */
}
END_TEST

/* The worker acts on the verdict: an interrupt through the transport (INTx
 * here: no MSI-X), and a broken ring as DEVICE_NEEDS_RESET. */
START_TEST(test_verdicts_reach_the_transport)
{
	start(NO_THREAD);
	eng.next[1].interrupt = true;
	virtio_worker_activate(&w);
	settle();
	ck_assert_uint_eq(virtio_pci_interrupts(&vp), 1);
	ck_assert_uint_eq(vp.intx_interrupts, 1);
	vp.status = VIRTIO_CONFIG_S_DRIVER_OK;
	eng.next[0].broken = true;
	eng.next[0].fault = (struct virtq_fault){.code = VIRTQ_AVAIL_AHEAD};
	kick(0);
	settle();
	ck_assert(vp.status & VIRTIO_CONFIG_S_NEEDS_RESET);
}
END_TEST

/* A reset: the engine's deactivate hook, and no run after it, whatever
 * rings the doorbells. */
START_TEST(test_reset_stops_it)
{
	start(NO_THREAD);
	virtio_worker_activate(&w);
	settle();
	virtio_worker_reset(&w);
	ck_assert(!w.running);
	ck_assert_int_eq(eng.deactivated, 1);
	uint64_t runs = w.runs;
	kick(0);
	ck_assert(!virtio_worker_turn(&w));
	ck_assert_uint_eq(w.runs, runs);
	virtio_worker_reset(&w); /* again: nothing */
	ck_assert_int_eq(eng.deactivated, 1);
}
END_TEST

/* The backend hangs up: the engine hears of it, every queue runs, and the
 * worker stops watching it (or epoll would report it forever). */
START_TEST(test_backend_hangup)
{
	start(NO_THREAD);
	eng.next[0].wait = EPOLLIN;
	virtio_worker_activate(&w);
	settle();
	eng.nruns = 0;
	/* Both ways shut: the socket reports EPOLLHUP, as a deleted TAP
	 * reports EPOLLERR, whatever the worker asked for. */
	ck_assert_int_eq(shutdown(dev_fd, SHUT_RDWR), 0);
	settle();
	ck_assert_int_eq(eng.lost, 1);
	ck_assert_int_ge(eng.nruns, 2);
	int runs = eng.nruns;
	ck_assert(!virtio_worker_turn(&w));
	ck_assert_int_eq(eng.nruns, runs);
}
END_TEST

/* With its thread: activate and reset are events the thread answers before
 * they return, and the engine's hooks run on that thread. */
START_TEST(test_thread_answers_activate_and_reset)
{
	start(true);
	ck_assert(!w.manual);
	virtio_worker_activate(&w);
	ck_assert(w.running);
	ck_assert_int_eq(eng.activated, 1);
	ck_assert(!pthread_equal(eng.activated_on, pthread_self()));
	virtio_worker_reset(&w);
	ck_assert(!w.running);
	ck_assert_int_eq(eng.deactivated, 1);
	uint64_t runs = __atomic_load_n(&w.runs, __ATOMIC_SEQ_CST);
	ck_assert_uint_ge(runs, 2); /* each queue once at activation */
	virtio_worker_activate(&w);
	virtio_worker_reset(&w);
	ck_assert_int_eq(eng.activated, 2);
	ck_assert_int_eq(eng.deactivated, 2);
}
END_TEST

CHECK_MAIN_FIXTURE("virtio_worker", setup, teardown, test_activate_runs_every_queue_once,
		   test_doorbell_wakes_its_queue, test_backend_wakes_its_waiters,
		   test_more_is_bounded_per_turn, test_verdicts_reach_the_transport,
		   test_reset_stops_it, test_backend_hangup, test_thread_answers_activate_and_reset)
