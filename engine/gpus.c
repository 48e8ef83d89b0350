#include "gpus.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add(struct gpus *g, const char *id, size_t len)
{
	char **ids = realloc(g->ids, (size_t)(g->n + 1) * sizeof *ids);

	if (ids == NULL)
		return -1;
	g->ids = ids;
	if ((ids[g->n] = strndup(id, len)) == NULL)
		return -1;
	g->n++;
	return 0;
}

/* The entries of CUDA_VISIBLE_DEVICES up to the first that names no
 * device: empty, or a negative index. */
static int from_list(struct gpus *g, const char *list)
{
	const char *p = list;

	while (*p != '\0') {
		size_t len;

		while (isspace((unsigned char)*p))
			p++;
		len = strcspn(p, ",");
		while (len > 0 && isspace((unsigned char)p[len - 1]))
			len--;
		if (len == 0 || *p == '-')
			break;
		if (add(g, p, len) < 0)
			return -1;
		p += strcspn(p, ",");
		if (*p == ',')
			p++;
	}
	return 0;
}

/* One device per GPU the driver exposes, by index. */
static int from_driver(struct gpus *g)
{
	DIR *d = opendir("/proc/driver/nvidia/gpus");
	struct dirent *e;
	int count = 0, rc = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			count++;
	closedir(d);
	for (int i = 0; i < count && rc == 0; i++) {
		char id[16];
		int len = snprintf(id, sizeof id, "%d", i);
		rc = add(g, id, (size_t)len);
	}
	return rc;
}

int gpus_find(struct gpus *g)
{
	const char *list = getenv("CUDA_VISIBLE_DEVICES");
	int rc;

	g->n = 0;
	g->ids = NULL;
	rc = list ? from_list(g, list) : from_driver(g);
	if (rc < 0)
		gpus_free(g);
	return rc;
}

const char *gpus_of_slot(const struct gpus *g, int slot)
{
	return g->ids[slot % g->n];
}

void gpus_free(struct gpus *g)
{
	for (int i = 0; i < g->n; i++)
		free(g->ids[i]);
	free(g->ids);
	g->n = 0;
	g->ids = NULL;
}
