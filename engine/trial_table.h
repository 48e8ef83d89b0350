/*
 * trial_table: the trials of an experiment, in creation order and by id.
 *
 * The table owns its trials, in by_seq in creation order. The index
 * by id is an open-addressing array of positions in by_seq (4 bytes a slot,
 * at most three quarters full): a trial lives as long as the experiment,
 * and a hash handle in each (uthash's takes 56 bytes) would be a fifth of
 * its memory. Trial ids are XXH3 hashes already, so their low bits pick
 * the slot.
 *
 * Threads: loop thread only.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct trial;

struct trial_table {
	struct trial **by_seq;
	size_t n, cap;
	uint32_t *slots; /* position in by_seq + 1; 0: free */
	size_t mask;	 /* slots - 1 (a power of two minus one) */
};

/* Adds t, the newest trial, after the others and takes ownership.
 * Returns 0, or -1 when out of memory (then t is not the table's). An id
 * already in the table is the caller's mistake: look it up first. */
int trial_table_add(struct trial_table *tt, struct trial *t);

/* The trial with this id, or NULL. */
struct trial *trial_table_find(const struct trial_table *tt, uint64_t id);

/* Frees every trial and the table's arrays; the table is empty again. */
void trial_table_free(struct trial_table *tt);
