/*
 * gpus: the GPUs local executors are spread over.
 *
 * The devices CUDA_VISIBLE_DEVICES names when it is set (the user chose
 * them: "2,3" gives the executors device 2 and device 3 in turn), else
 * every GPU the NVIDIA driver exposes (/proc/driver/nvidia/gpus). As CUDA
 * reads the variable, the list ends at the first empty or negative entry,
 * so "" and "-1" name no device: the executors then inherit the variable
 * as it is and see no GPU.
 *
 * Threads: any; reads the environment and /proc only.
 */
#pragma once

struct gpus {
	int n;       /* devices found, 0 if none */
	char **ids;  /* their names as CUDA_VISIBLE_DEVICES takes them */
};

/* Fill `g`. Returns 0, or -1 when out of memory (then `g` holds none). */
int gpus_find(struct gpus *g);

/* The device of executor slot `slot`: slot modulo the number found. Only
 * when g->n > 0. */
const char *gpus_of_slot(const struct gpus *g, int slot);

/* Free what gpus_find allocated; `g` then holds none. */
void gpus_free(struct gpus *g);
