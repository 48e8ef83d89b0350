/*
 * synthetic: closed-form test functions, all minimized, and their
 * multi-fidelity variants.
 *
 *   branin     x1 in [-5, 10], x2 in [0, 15]   min 0.397887 (three minima)
 *   hartmann3  x1..x3 in [0, 1]                min -3.86278
 *   hartmann6  x1..x6 in [0, 1]                min -3.32237
 *
 * Standard forms as in Dixon & Szegö, "The global optimisation problem: an
 * introduction" (1978), with the constants of Surjanovic & Bingham's Virtual
 * Library of Simulation Experiments. A plain function reports one step,
 * noise-free, taking 1 s.
 *
 * The "_mf" variants model training for up to 81 steps (Hyperband's
 * classic maximum, 3^4). At step t, with s = 1 - t/81:
 *
 *   y(t) = f(x) + 0.5 * scale * s^2 + 0.1 * scale * (s + 0.05) * z(t)
 *
 * where z(t) is a standard normal drawn from XXH3 over the canonical params
 * ("x1=<%.17g>,x2=...", name order), the seed and t. Early steps are worse
 * (the bias) and noisier; at t = 81 only noise of sd 0.005 * scale is left.
 * scale is 10 for branin, 1 for the Hartmann functions. A run with a smaller
 * budget reports a prefix of the full run's curve, each step taking 1 s.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "internal.h"

#define MF_STEPS 81
#define STEP_SECONDS 1.0

struct function {
	const char *name;
	int dims;
	double low, high;   /* every coordinate, except branin's (see below) */
	double (*f)(const double *x);
	double fmin;
	double scale;       /* of the multi-fidelity bias and noise */
};

struct synthetic {
	const struct function *fn;
	int mf;
};

/* ---- the functions ---- */

static double branin(const double *x)
{
	const double b = 5.1 / (4 * M_PI * M_PI), c = 5 / M_PI, t = 1 / (8 * M_PI);
	double q = x[1] - b * x[0] * x[0] + c * x[0] - 6;

	return q * q + 10 * (1 - t) * cos(x[0]) + 10;
}

static const double HARTMANN_ALPHA[4] = { 1.0, 1.2, 3.0, 3.2 };

/* -sum_i alpha_i exp(-sum_j a[i][j] (x_j - p[i][j])^2) */
static double hartmann(const double *x, int dims, const double *a,
		       const double *p)
{
	double sum = 0;

	for (int i = 0; i < 4; i++) {
		double inner = 0;

		for (int j = 0; j < dims; j++) {
			double d = x[j] - p[i * dims + j];

			inner += a[i * dims + j] * d * d;
		}
		sum += HARTMANN_ALPHA[i] * exp(-inner);
	}
	return -sum;
}

static double hartmann3(const double *x)
{
	static const double a[4 * 3] = {
		3.0, 10, 30,
		0.1, 10, 35,
		3.0, 10, 30,
		0.1, 10, 35,
	};
	static const double p[4 * 3] = {
		0.3689, 0.1170, 0.2673,
		0.4699, 0.4387, 0.7470,
		0.1091, 0.8732, 0.5547,
		0.0381, 0.5743, 0.8828,
	};
	return hartmann(x, 3, a, p);
}

static double hartmann6(const double *x)
{
	static const double a[4 * 6] = {
		10, 3, 17, 3.5, 1.7, 8,
		0.05, 10, 17, 0.1, 8, 14,
		3, 3.5, 1.7, 10, 17, 8,
		17, 8, 0.05, 10, 0.1, 14,
	};
	static const double p[4 * 6] = {
		0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886,
		0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991,
		0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650,
		0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381,
	};
	return hartmann(x, 6, a, p);
}

static const struct function FUNCTIONS[] = {
	{ "branin", 2, -5, 10, branin, 0.397887357729739, 10 },
	{ "hartmann3", 3, 0, 1, hartmann3, -3.86278214782076, 1 },
	{ "hartmann6", 6, 0, 1, hartmann6, -3.32236801141551, 1 },
};

#define NFUNCTIONS (sizeof FUNCTIONS / sizeof FUNCTIONS[0])

/* The function called name or name + "_mf"; NULL if none. */
static const struct function *lookup(const char *name, int *mf)
{
	size_t n = strlen(name);

	*mf = n > 3 && strcmp(name + n - 3, "_mf") == 0;
	if (*mf)
		n -= 3;
	for (size_t i = 0; i < NFUNCTIONS; i++)
		if (strlen(FUNCTIONS[i].name) == n &&
		    strncmp(FUNCTIONS[i].name, name, n) == 0)
			return &FUNCTIONS[i];
	return NULL;
}

int synthetic_is(const char *name)
{
	int mf;

	return lookup(name, &mf) != NULL;
}

/* ---- multi-fidelity noise ---- */

/* The canonical params of Space:key(): names in order, %.17g values. */
static uint64_t params_hash(const simbench_t *b, const struct sb_value *x,
			    uint64_t seed)
{
	char key[512];
	size_t used = 0;

	for (int i = 0; i < b->nparams && used < sizeof key; i++) {
		const struct sb_param *p = &b->params[i];

		used += snprintf(key + used, sizeof key - used, "%s%s=%.17g",
				 i ? "," : "", p->name, x[p->slot].num);
	}
	return XXH3_64bits_withSeed(key, used < sizeof key ? used : sizeof key - 1,
				    seed);
}

/* A standard normal for step t, by Box-Muller from one 64-bit hash. */
static double step_normal(uint64_t base, int t)
{
	unsigned char le[8];
	uint64_t h;
	double u1, u2;

	for (int i = 0; i < 8; i++) /* the same bytes on every machine */
		le[i] = (unsigned char)((uint64_t)t >> (8 * i));
	h = XXH3_64bits_withSeed(le, sizeof le, base);
	u1 = ((double)(h >> 32) + 0.5) / 4294967296.0;
	u2 = ((double)(h & 0xffffffffu) + 0.5) / 4294967296.0;
	return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

static double mf_value(const struct function *fn, double fx, int t, double z)
{
	double s = 1.0 - (double)t / MF_STEPS;

	return fx + 0.5 * fn->scale * s * s + 0.1 * fn->scale * (s + 0.05) * z;
}

/* ---- the kind ---- */

static int synthetic_eval(simbench_t *b, const struct sb_value *x, int budget,
			  uint64_t seed, struct simbench_curve *out, char *err,
			  size_t errlen)
{
	const struct synthetic *sy = b->impl;
	double coords[6];
	double fx;
	uint64_t base;

	for (int i = 0; i < sy->fn->dims; i++)
		coords[i] = x[i].num;
	fx = sy->fn->f(coords);
	base = sy->mf ? params_hash(b, x, seed) : 0;
	out->n = budget;
	for (int t = 1; t <= budget; t++) {
		out->value[t - 1] = sy->mf ? mf_value(sy->fn, fx, t, step_normal(base, t))
					   : fx;
		out->time[t - 1] = t * STEP_SECONDS;
	}
	out->truth = fx;
	sb_outputs(out, json_pack("{s:f}", "truth", fx));
	return 0;
}

static double synthetic_optimum(const simbench_t *b, int maximize)
{
	const struct synthetic *sy = b->impl;

	return maximize ? NAN : sy->fn->fmin;
}

static void synthetic_destroy(void *impl)
{
	free(impl);
}

static const struct sb_ops SYNTHETIC_OPS = {
	.eval = synthetic_eval,
	.optimum = synthetic_optimum,
	.destroy = synthetic_destroy,
};

static int set_params(simbench_t *b, const struct function *fn)
{
	for (int i = 0; i < fn->dims; i++) {
		struct sb_param *p = &b->params[i];
		char name[8];

		snprintf(name, sizeof name, "x%d", i + 1);
		p->name = strdup(name);
		if (p->name == NULL)
			return -1;
		p->type = SB_DOUBLE;
		p->low = fn->low;
		p->high = fn->high;
	}
	if (fn->f == branin) { /* the one function with two ranges */
		b->params[1].low = 0;
		b->params[1].high = 15;
	}
	return 0;
}

simbench_t *synthetic_open(const char *name, char *err, size_t errlen)
{
	int mf;
	const struct function *fn = lookup(name, &mf);
	struct synthetic *sy = calloc(1, sizeof *sy);
	simbench_t *b = fn ? sb_alloc(name, fn->dims, mf ? MF_STEPS : 1) : NULL;

	if (b == NULL || sy == NULL) {
		free(sy);
		simbench_close(b);
		sb_err(err, errlen, "%s: %s", name,
		       fn ? "out of memory" : "no such synthetic function");
		return NULL;
	}
	sy->fn = fn;
	sy->mf = mf;
	sb_set_metric(b, "loss");
	b->ops = &SYNTHETIC_OPS;
	b->impl = sy;
	if (set_params(b, fn) != 0 || sb_finish(b, err, errlen) != 0) {
		if (err && err[0] == '\0')
			sb_err(err, errlen, "%s: out of memory", name);
		simbench_close(b);
		return NULL;
	}
	return b;
}
