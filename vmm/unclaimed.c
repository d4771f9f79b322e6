#include "vmm/unclaimed.h"

#include <string.h>

void unclaimed_init(struct unclaimed_log *l, FILE *out)
{
	memset(l, 0, sizeof(*l));
	pthread_mutex_init(&l->lock, NULL);
	l->out = out;
}

void unclaimed_destroy(struct unclaimed_log *l)
{
	pthread_mutex_destroy(&l->lock);
}

bool unclaimed_report(struct unclaimed_log *l, const char *space, uint64_t addr, uint32_t len,
		      bool is_write)
{
	bool said = false;
	pthread_mutex_lock(&l->lock);
	for (size_t i = 0; i < l->count; i++)
		if (l->seen[i].addr == addr && l->seen[i].space == space)
			goto out;
	if (l->count == UNCLAIMED_REMEMBERED) {
		if (!l->overflow_said)
			fprintf(l->out,
				"minivmm: more than %d unclaimed addresses; no further "
				"reports (see --stats)\n",
				UNCLAIMED_REMEMBERED);
		l->overflow_said = true;
		goto out;
	}
	l->seen[l->count].space = space;
	l->seen[l->count].addr = addr;
	l->count++;
	fprintf(l->out,
		"minivmm: guest %s %u byte(s) at unclaimed %s 0x%llx (reads as all-ones; "
		"reported once)\n",
		is_write ? "wrote" : "read", len, space, (unsigned long long)addr);
	said = true;
out:
	pthread_mutex_unlock(&l->lock);
	return said;
}
