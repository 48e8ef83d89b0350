/* trial_table: the trials of an experiment in creation order, and an
 * open-addressing index of them by id (see trial_table.h). */
#include "trial_table.h"

#include <stdlib.h>

#include "trial.h"

/* The slot of id among mask + 1 (linear probing from its low bits). */
static size_t find_slot(const uint32_t *slots, size_t mask,
			struct trial *const *by_seq, uint64_t id)
{
	size_t i = (size_t)id & mask;

	while (slots[i] != 0 && by_seq[slots[i] - 1]->id != id)
		i = (i + 1) & mask;
	return i;
}

/* Rebuilds the index with twice the slots (64 at first). */
static int grow_index(struct trial_table *tt)
{
	size_t mask = tt->slots ? tt->mask * 2 + 1 : 63;
	uint32_t *slots = calloc(mask + 1, sizeof *slots);
	size_t i;

	if (slots == NULL)
		return -1;
	for (i = 0; i < tt->n; i++)
		slots[find_slot(slots, mask, tt->by_seq, tt->by_seq[i]->id)] =
			(uint32_t)i + 1;
	free(tt->slots);
	tt->slots = slots;
	tt->mask = mask;
	return 0;
}

int trial_table_add(struct trial_table *tt, struct trial *t)
{
	if (tt->n >= UINT32_MAX - 1)
		return -1;
	if (tt->n == tt->cap) {
		size_t cap = tt->cap ? tt->cap * 2 : 64;
		struct trial **all = realloc(tt->by_seq, cap * sizeof *all);

		if (all == NULL)
			return -1;
		tt->by_seq = all;
		tt->cap = cap;
	}
	/* at most three quarters full after this one */
	if ((tt->n + 1) * 4 > (tt->slots ? tt->mask + 1 : 0) * 3 &&
	    grow_index(tt) < 0)
		return -1;
	tt->by_seq[tt->n] = t;
	tt->slots[find_slot(tt->slots, tt->mask, tt->by_seq, t->id)] =
		(uint32_t)++tt->n;
	return 0;
}

struct trial *trial_table_find(const struct trial_table *tt, uint64_t id)
{
	uint32_t pos;

	if (tt->slots == NULL)
		return NULL;
	pos = tt->slots[find_slot(tt->slots, tt->mask, tt->by_seq, id)];
	return pos ? tt->by_seq[pos - 1] : NULL;
}

void trial_table_free(struct trial_table *tt)
{
	size_t i;

	for (i = 0; i < tt->n; i++)
		trial_free(tt->by_seq[i]);
	free(tt->by_seq);
	free(tt->slots);
	*tt = (struct trial_table){ 0 };
}
