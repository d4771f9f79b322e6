#include "vmm/base/guest_mem.h"

#include <sys/mman.h>

void guest_mem_layout(struct guest_mem *m, uint64_t size)
{
	m->size = size;
	m->low_size = size < GUEST_PCI_HOLE_START ? size : GUEST_PCI_HOLE_START;
}

int guest_mem_alloc(struct guest_mem *m, uint64_t size, struct errbuf *e)
{
	guest_mem_layout(m, size);
	/* MAP_NORESERVE: the guest touches what it uses; a 4 GiB guest that boots
	 * to a shell should not need 4 GiB of host commit up front. */
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return errorf_errno(e, "--mem: cannot map %llu MiB of guest RAM",
				    (unsigned long long)(size >> 20));
	m->host = p;
	return 0;
}

void guest_mem_free(struct guest_mem *m)
{
	if (m->host)
		munmap(m->host, m->size);
	m->host = NULL;
}
