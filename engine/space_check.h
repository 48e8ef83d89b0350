/*
 * space_check: the engine's own check of a suggestion against the search
 * space, made before the suggestion becomes a trial. The Lua runtime
 * validates first (Space:validate and split_budget in lua/maggy/searchspace.lua
 * and lua/maggy/runtime.lua); this is defence in depth, so that a bug on the
 * Lua side (one once let `{}` through) cannot create a trial the training
 * function would be called with.
 *
 * It accepts what the Lua side accepts, with one deliberate slack: a DOUBLE
 * may lie up to 1e-12 (relative to the bound) outside its bounds, so that a
 * value computed through exp/log and rounded just past a bound is not lost.
 *
 * The unit owns no state and allocates nothing; it only reads its arguments.
 *
 * Threads: any.
 */
#pragma once

#include <jansson.h>
#include <stddef.h>

/*
 * Check `params` against `space`.
 *
 * `space` is the JSON array that Space:describe() produces (the config key
 * "space" of maggy.runtime.load), one object per parameter:
 *   {"name": N, "type": "DOUBLE" | "INTEGER", "low": L, "high": H, "log": B}
 *   {"name": N, "type": "DISCRETE" | "CATEGORICAL", "values": [...]}
 * `params` is one suggestion: an object with a value for every parameter of
 * the space and nothing else, except an optional "budget" and, in ablation
 * studies, "ablate" and "seed".
 *
 * Valid means: params is an object; every parameter of the space is present;
 * the only other keys are "budget", a finite number > 0, "ablate", an
 * object of name lists under "features", "layers" or "components", and
 * "seed", an integer in [0, 2^53); a DOUBLE is a finite
 * number in [low, high] (with the slack above); an INTEGER is an integral
 * number (a JSON integer, or a real such as 3.0) in [low, high]; a DISCRETE
 * or CATEGORICAL value equals one of the listed values (numbers compare by
 * value, so 16 equals 16.0; strings by content; booleans by identity).
 *
 * Returns 0 when valid. Otherwise returns -1 and writes a one-line reason to
 * `err` (at most errlen bytes, NUL-terminated), e.g.
 *   parameter 'x1' is missing
 *   parameter 'lr' = 2 is outside [0.001, 1]
 *   unknown parameter 'foo'
 *   'budget' must be a positive number, got 0
 * A space that is not a non-empty array of such objects is also -1, with a
 * reason starting "search space:": every suggestion then fails, which is
 * what an engine given a broken space should do. So is one whose names are
 * not Python identifiers or are reserved (budget, ablate, seed, reporter),
 * or whose range is empty, not finite, or on a log scale with low <= 0:
 * the Lua side refuses them all, unless a script's own describe() says
 * otherwise.
 *
 * Neither argument is modified or retained. `space` and `params` may be NULL
 * (then -1). `err` may be NULL when errlen is 0.
 */
int space_check(const json_t *space, const json_t *params, char *err,
		size_t errlen);

/*
 * Check `space` alone, as space_check does before it looks at a
 * suggestion: the run and `run --check` call it on the space a script
 * describes, so that a broken one is refused before any trial. Returns 0,
 * or -1 with a reason starting "search space:".
 */
int space_check_space(const json_t *space, char *err, size_t errlen);
