#include "devices/msix.h"

#include <string.h>
#include <sys/eventfd.h>

enum { ADDR_LO, ADDR_HI, DATA, CTRL };

/* Capability layout after id/next: message control (2 bytes), table
 * offset/BIR (4), PBA offset/BIR (4). */
#define CAP_CONTROL 2

int msix_init(struct msix *m, struct pci_device *d, uint16_t nvec, int bar, uint32_t table_off,
	      uint32_t pba_off, const int *fds, const struct msix_ops *ops, struct errbuf *e)
{
	memset(m, 0, sizeof(*m));
	if (nvec == 0 || nvec > MSIX_MAX_VECTORS || (table_off | pba_off) & 7 || bar < 0 ||
	    bar >= PCI_NUM_BARS)
		return errorf(e, "%s: bad MSI-X layout", d->name);
	pthread_mutex_init(&m->lock, NULL);
	m->pci = d;
	m->ops = *ops;
	m->nvec = nvec;
	for (int i = 0; i < MSIX_MAX_VECTORS; i++)
		m->fd[i] = fds && i < nvec ? fds[i] : -1;
	for (int i = 0; i < nvec; i++)
		m->table[i][CTRL] = MSIX_VECTOR_MASKED;

	uint8_t body[10] = {0}, wmask[10] = {0};
	uint16_t control = (uint16_t)(nvec - 1); /* table size, encoded as N-1 */
	body[0] = (uint8_t)control;
	body[1] = (uint8_t)(control >> 8);
	wmask[1] = (MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL) >> 8;
	uint32_t t = table_off | (uint32_t)bar, p = pba_off | (uint32_t)bar;
	memcpy(body + 2, &t, 4);
	memcpy(body + 6, &p, 4);
	m->control = control;
	m->cap = pci_add_capability(d, PCI_CAP_ID_MSIX, body, sizeof(body), wmask);
	if (!m->cap)
		return errorf(e, "%s: no room for the MSI-X capability", d->name);
	return 0;
}

void msix_destroy(struct msix *m)
{
	if (m->pci)
		pthread_mutex_destroy(&m->lock);
}

static bool function_on(const struct msix *m)
{
	return (m->control & MSIX_CTRL_ENABLE) && !(m->control & MSIX_CTRL_MASKALL);
}

bool msix_enabled(struct msix *m)
{
	pthread_mutex_lock(&m->lock);
	bool on = m->control & MSIX_CTRL_ENABLE;
	pthread_mutex_unlock(&m->lock);
	return on;
}

static bool deliverable(const struct msix *m, uint16_t vec)
{
	return function_on(m) && !(m->table[vec][CTRL] & MSIX_VECTOR_MASKED);
}

/* Fires vector v, which has no eventfd, under the lock. */
static void fire(struct msix *m, uint16_t v)
{
	__atomic_add_fetch(&m->sent, 1, __ATOMIC_RELAXED);
	if (m->ops.fire)
		m->ops.fire(m->ops.ctx, v);
}

/* Takes what waits in a vector's eventfd (non-blocking): how many writes
 * since it was last bound or taken. */
static eventfd_t take(int fd)
{
	eventfd_t n = 0;
	if (eventfd_read(fd, &n) < 0)
		n = 0; /* EAGAIN: nothing */
	return n;
}

/* Binds vector v's eventfd to KVM while v is deliverable, and unbinds it
 * while masked, so that a write then waits in its counter: the pending bit
 * (§6.8.2.9: "if a masked vector has its pending bit set, the function must
 * send the message when the vector is unmasked"). Under the lock, on the
 * thread that changed the mask. The eventfd's count is taken before binding
 * and written back as one message after it: KVM sends a message for each
 * write once bound, and what waited is one pending bit, not one per write. */
static void follow_mask(struct msix *m, uint16_t v)
{
	bool want = deliverable(m, v);
	if (m->fd[v] < 0 || want == m->bound[v])
		return;
	if (!want) {
		m->ops.bind(m->ops.ctx, v, false);
		m->bound[v] = false;
		return;
	}
	eventfd_t waited = take(m->fd[v]);
	m->bound[v] = m->ops.bind(m->ops.ctx, v, true) == 0;
	if (waited)
		eventfd_write(m->fd[v], m->bound[v] ? 1 : waited);
}

/* After the guest changed the table or the control: each vector's binding
 * follows its mask, and a vector without an eventfd that was pending and
 * is deliverable now fires. */
static void follow_masks(struct msix *m)
{
	for (uint16_t v = 0; v < m->nvec; v++) {
		follow_mask(m, v);
		if ((m->pba & (1U << v)) && deliverable(m, v)) {
			m->pba &= ~(1U << v);
			fire(m, v);
		}
	}
}

int msix_vector_fd(struct msix *m, uint16_t vec)
{
	pthread_mutex_lock(&m->lock);
	int fd = (m->control & MSIX_CTRL_ENABLE) && vec < m->nvec ? m->fd[vec] : -1;
	pthread_mutex_unlock(&m->lock);
	return fd;
}

bool msix_notify(struct msix *m, uint16_t vec)
{
	pthread_mutex_lock(&m->lock);
	bool on = m->control & MSIX_CTRL_ENABLE;
	if (on && vec < m->nvec) {
		if (m->fd[vec] >= 0) {
			/* Bound: KVM sends it; masked: it waits, pending. */
			__atomic_add_fetch(&m->sent, 1, __ATOMIC_RELAXED);
			eventfd_write(m->fd[vec], 1);
		} else if (deliverable(m, vec)) {
			fire(m, vec);
		} else {
			m->pba |= 1U << vec;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return on;
}

void msix_config_written(struct msix *m, uint32_t off, uint32_t len)
{
	uint32_t ctl = m->cap + CAP_CONTROL;
	if (off >= ctl + 2 || off + len <= ctl)
		return;
	/* Config space is read here by the thread that wrote it (the PCI host
	 * serialises config accesses), and copied under the MSI-X lock for
	 * msix_notify(), which a device thread calls at any time. */
	uint16_t c = pci_cfg_read16(m->pci, m->cap + CAP_CONTROL);
	pthread_mutex_lock(&m->lock);
	m->control = c;
	follow_masks(m);
	pthread_mutex_unlock(&m->lock);
}

void msix_table_io(struct msix *m, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	/* §6.8.2: the table is accessed in aligned dwords or qwords. */
	if ((len != 4 && len != 8) || (off & (len - 1)) || off + len > m->nvec * MSIX_ENTRY_SIZE) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&m->lock);
	for (uint32_t done = 0; done < len; done += 4) {
		uint16_t vec = (uint16_t)((off + done) / MSIX_ENTRY_SIZE);
		unsigned word = (unsigned)((off + done) % MSIX_ENTRY_SIZE) / 4;
		uint32_t *slot = &m->table[vec][word];
		if (!is_write) {
			memcpy(data + done, slot, 4);
			continue;
		}
		uint32_t v;
		memcpy(&v, data + done, 4);
		if (word == CTRL)
			v &= MSIX_VECTOR_MASKED; /* the other bits are reserved */
		uint32_t old = *slot;
		*slot = v;
		if (word != CTRL && old != v)
			m->ops.route(m->ops.ctx, vec,
				     (uint64_t)m->table[vec][ADDR_HI] << 32 |
					 m->table[vec][ADDR_LO],
				     m->table[vec][DATA]);
	}
	follow_masks(m);
	pthread_mutex_unlock(&m->lock);
}

void msix_pba_io(struct msix *m, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	if (is_write)
		return; /* read-only (§6.8.2.10) */
	memset(data, 0, len);
	pthread_mutex_lock(&m->lock);
	/* An unbound eventfd's count is its vector's pending bit: looked at
	 * by taking it and putting it back (a device write in between only
	 * adds to it). */
	uint32_t pba = m->pba;
	for (uint16_t v = 0; v < m->nvec; v++) {
		if (m->fd[v] < 0 || m->bound[v])
			continue;
		eventfd_t n = take(m->fd[v]);
		if (n) {
			eventfd_write(m->fd[v], n);
			pba |= 1U << v;
		}
	}
	for (uint32_t i = 0; i < len; i++)
		if (off + i < sizeof(pba))
			data[i] = (uint8_t)(pba >> (8 * (off + i)));
	pthread_mutex_unlock(&m->lock);
}
