-- TPE, the Tree-structured Parzen Estimator: a model-based optimizer that
-- sorts the results so far into a few good ones and the rest, fits a density
-- to each, l(x) to the good and g(x) to the rest, and suggests the point that
-- maximizes l(x) / g(x) among candidates drawn from l.
--
-- The model works in the unit cube of the search space (space:to_unit, which
-- handles log scales). DOUBLE and INTEGER parameters get Gaussian kernels
-- truncated to [0, 1]; DISCRETE parameters are ordered numbers, with the same
-- kernel over their index scale; CATEGORICAL parameters get an
-- Aitchison-Aitken kernel (most of the mass on the observed category, the rest
-- spread over the others). INTEGER and DISCRETE candidates are rounded to a
-- valid value before they are scored, and never get a kernel narrower than
-- half a value's share of [0, 1]. Both densities mix in a uniform prior.
--
--   multivariate = true (BOHB): one kernel per observation over all
--     parameters at once, widths by Scott's rule (1.06 sd n^(-1/(d+4)), the
--     sd shrunk toward the prior's with prior_weight pseudo-points so that one
--     or two points still get a usable width)
--   multivariate = false (the original TPE): an independent density per
--     parameter, each kernel as wide as the larger gap to its neighbours
--
-- Until n_startup trials have results, suggestions are random. Trials still
-- PENDING or RUNNING join the model with a made-up "lie" score (the constant
-- liar, see history.lua), so that idle workers get different points; no
-- candidate equal to a known point (done or pending) is suggested. With the
-- worst score as the lie, a pending trial joins g(x), and its kernel there
-- counts half (pending_weight): the model does not know yet whether the
-- trial will be good. At full weight the lie pushed the next suggestions
-- away from the good region the pending trials were drawn from, and at
-- W = 8 TPE did worse than when it ignored them (docs/performance.md).
--
-- Parameters (maggy.optimizers.tpe{...}):
--   n_startup        random trials before the model is used (default 10)
--   gamma            fraction of the observations that are "good", in (0, 1);
--                    default as in Optuna: min(ceil(0.1 n), 25) good points
--   n_candidates     candidates drawn from l per suggestion (default 24)
--   multivariate     joint kernels (default true) or one density per parameter
--   prior_weight     weight of the uniform prior, in observations (default 1)
--   bandwidth_floor  narrowest kernel, in unit-cube widths (default 1e-3)
--   lie              score of pending trials: "worst" (default), "mean", "best",
--                    or "none": pending trials are left out (the naive
--                    batch, for comparison: idle workers get points from the
--                    same model)
--   pending_weight   weight of a pending trial's kernel in g(x), in (0, 1]
--                    (default 0.5; 1 is the plain constant liar)
--   demote_repeats   a result equal, bit for bit, to a better-ranked one is a
--                    repeat and joins the bad density (default true): see
--                    repeats_last below
--   plateau_widening candidates are drawn from l(x) with kernels up to this
--                    many times wider, the more so the more often the good
--                    results repeat (default 3, BOHB's fixed factor; 1:
--                    never wider; only with demote_repeats): see widening
--                    below
--
-- Papers: Bergstra, Bardenet, Bengio and Kegl, "Algorithms for Hyper-Parameter
-- Optimization", NeurIPS 2011; the multivariate kernels of Falkner, Klein and
-- Hutter, "BOHB: Robust and Efficient Hyperparameter Optimization at Scale",
-- ICML 2018.
--
-- For other optimizers (BOHB draws its model-based points with it):
--
--   local Tpe = require "maggy.optimizers.tpe"
--   local opts = Tpe.defaults{ n_candidates = 64 }   -- checked, defaults filled in
--   local params = Tpe.propose(space, rng, obs, opts)
--
-- Tpe.propose is a pure function of its arguments (it only draws from rng):
-- `obs` is a list of {params = ..., score = ...}, LOWER score is better (as
-- history.observed and history.with_pending give them; `params` may carry
-- extra keys such as `budget`, which are ignored). It returns a params table
-- of the space's parameters, or nil when obs holds fewer than 2 points or
-- every candidate repeats a point of obs: the caller then samples at random.

local history = require "maggy.optimizers.history"
local options = require "maggy.options"

local floor, ceil, exp, log, sqrt = math.floor, math.ceil, math.exp, math.log, math.sqrt
local min, max, abs = math.min, math.max, math.abs
local NEG_INF = -math.huge
local LOG_SQRT_2PI = 0.5 * log(2 * math.pi)

local Tpe = {}
local objects = { __index = Tpe } -- their metatable: not Tpe itself (sandbox.lua)

---------------------------------------------------------------------------
-- Options
---------------------------------------------------------------------------

local function is_integer(v)
  return type(v) == "number" and v == floor(v) and abs(v) < math.huge
end

local function is_finite(v)
  return type(v) == "number" and v == v and abs(v) < math.huge
end

-- name -> default, test, what the test wants (for the error message).
local OPTIONS = {
  n_startup = { 10, function(v) return is_integer(v) and v >= 0 end, "an integer >= 0" },
  gamma = { nil, function(v) return is_finite(v) and v > 0 and v < 1 end, "a number in (0, 1)" },
  n_candidates = { 24, function(v) return is_integer(v) and v >= 1 end, "an integer >= 1" },
  multivariate = { true, function(v) return type(v) == "boolean" end, "true or false" },
  prior_weight = { 1, function(v) return is_finite(v) and v >= 0 end, "a number >= 0" },
  bandwidth_floor = { 1e-3, function(v) return is_finite(v) and v > 0 and v <= 1 end, "a number in (0, 1]" },
  plateau_widening = { 3, function(v) return is_finite(v) and v >= 1 end, "a number >= 1" },
  demote_repeats = { true, function(v) return type(v) == "boolean" end, "true or false" },
  pending_weight = { 0.5, function(v) return is_finite(v) and v > 0 and v <= 1 end, "a number in (0, 1]" },
  lie = { "worst", function(v) return v == "worst" or v == "mean" or v == "best" or v == "none" end,
          "\"worst\", \"mean\", \"best\" or \"none\"" },
}
local OPTION_NAMES = {
  "bandwidth_floor", "demote_repeats", "gamma", "lie", "multivariate", "n_candidates", "n_startup", "pending_weight",
  "plateau_widening", "prior_weight",
}

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

-- A checked copy of opts with the defaults filled in, or nil and a message.
local function normalize(opts)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then
    return nil, "optimizers.tpe: expected an options table, got " .. type(opts)
  end
  local bad = options.unknown(opts, OPTION_NAMES)
  if bad then return nil, "optimizers.tpe: " .. bad end
  local out = {}
  for _, name in ipairs(OPTION_NAMES) do
    local default, test, wants = OPTIONS[name][1], OPTIONS[name][2], OPTIONS[name][3]
    local v = opts[name]
    if v == nil then
      v = default
    elseif not test(v) then
      return nil, string.format("optimizers.tpe: option '%s' must be %s, got %s", name, wants, show(v))
    end
    out[name] = v
  end
  return out
end

-- The options with defaults filled in; raises on a bad option. gamma stays
-- nil for the default rule.
function Tpe.defaults(opts)
  local out, err = normalize(opts)
  if not out then error(err, 2) end
  return out
end

---------------------------------------------------------------------------
-- Kernels
---------------------------------------------------------------------------

-- erfc(x) with relative error below 1.2e-7 (the Chebyshev fit of Press et al.,
-- "Numerical Recipes", 2nd ed., section 6.2).
local function erfc(x)
  local z = abs(x)
  local t = 1 / (1 + 0.5 * z)
  local r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
    + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
    + t * (-0.82215223 + t * 0.17087277)))))))))
  if x >= 0 then return r end
  return 2 - r
end

local function normal_cdf(z)
  return 0.5 * erfc(-z / sqrt(2))
end

-- log of the mass a normal(mu, sd) puts on [0, 1]: the truncated kernel's
-- normalizer. Kernels far from both edges lose nothing.
local function log_mass_inside(mu, sd)
  if mu > 6 * sd and 1 - mu > 6 * sd then return 0 end
  return log(normal_cdf((1 - mu) / sd) - normal_cdf(-mu / sd))
end

local function clamp(x, lo, hi)
  if x < lo then return lo end
  if x > hi then return hi end
  return x
end

-- Scott's rule on one coordinate, the variance shrunk toward the uniform
-- prior's (1/12) with prior_weight pseudo-points.
local function scott_width(col, n, factor, narrowest, prior_weight)
  local mean, ss = 0, 0
  for k = 1, n do mean = mean + col[k] end
  mean = mean / n
  for k = 1, n do
    local dx = col[k] - mean
    ss = ss + dx * dx
  end
  local var = (ss + prior_weight / 12) / max(n - 1 + prior_weight, 1)
  return clamp(1.06 * sqrt(var) * factor, narrowest, 1)
end

local function filled(n, v)
  local out = {}
  for k = 1, n do out[k] = v end
  return out
end

-- The original TPE's widths: each kernel as wide as the larger gap from its
-- value to the nearest different ones (the cube's edges at the ends), at
-- least 1/min(100, n + 1). Equal values share a width.
local function neighbour_widths(col, n, narrowest)
  local sorted = {}
  for k = 1, n do sorted[k] = col[k] end
  table.sort(sorted)
  local lowest, width_of = max(narrowest, 1 / min(100, n + 1)), {}
  local below, r = 0, 1
  while r <= n do
    local v, last = sorted[r], r
    while last < n and sorted[last + 1] == v do last = last + 1 end
    local above = last < n and sorted[last + 1] or 1
    width_of[v] = clamp(max(v - below, above - v), lowest, 1)
    below, r = v, last + 1
  end
  local widths = {}
  for k = 1, n do widths[k] = width_of[col[k]] end
  return widths
end

---------------------------------------------------------------------------
-- Densities
--
-- A density is a mixture of n product kernels (one per point, equal weights)
-- and a uniform prior, over some of the point's dimensions (`ids`). Every
-- array is flat and built once per suggestion; scoring a candidate allocates
-- nothing.
---------------------------------------------------------------------------

-- The per-dimension facts the model needs: m (number of categories) for
-- CATEGORICAL, the narrowest kernel for the others.
local function describe_dims(space, bandwidth_floor)
  local dims = {}
  for i, name in ipairs(space:names()) do
    local p = space:param(name)
    local cells
    if p.type == "DISCRETE" then cells = #p.values end
    if p.type == "INTEGER" then cells = p.high - p.low + 1 end
    if p.type == "CATEGORICAL" then
      dims[i] = { m = #p.values }
    else
      dims[i] = { narrowest = max(bandwidth_floor, cells and 0.5 / cells or 0) }
    end
  end
  return dims
end

-- A point: unit coordinates, and the category's index for CATEGORICAL.
local function to_point(space, dims, params)
  local x = space:to_unit(params)
  for i = 1, #dims do
    local m = dims[i].m
    if m then x[i] = min(floor(x[i] * m) + 1, m) end
  end
  return x
end

-- Aitchison-Aitken: 1 - lambda on the observed category, lambda spread over
-- the others; lambda = (m - 1) / (m + n) shrinks as points accumulate.
local function add_categorical(dens, j, m, n)
  local lambda = (m - 1) / (m + n)
  dens.lambda[j], dens.m[j] = lambda, m
  dens.log_same[j] = log(1 - lambda)
  dens.log_other[j] = m > 1 and log(lambda / (m - 1)) or NEG_INF
end

local function add_numeric(dens, j, col, widths)
  local n, logc, nh = dens.n, dens.logc, {}
  for k = 1, n do
    local sd = widths[k]
    nh[k] = -0.5 / (sd * sd)
    logc[k] = logc[k] - log(sd) - LOG_SQRT_2PI - log_mass_inside(col[k], sd)
  end
  dens.sd[j], dens.nh[j] = widths, nh
end

-- cols[i]: coordinate i of the n points. ids: the dimensions covered.
-- weights[k]: kernel k's weight (nil: all 1); the prior's is prior_weight.
local function new_density(cols, n, dims, ids, opts, weights)
  local pw, total, logc = opts.prior_weight, n, {}
  if weights then
    total = 0
    for k = 1, n do total = total + weights[k] end
  end
  for k = 1, n do logc[k] = log(weights and weights[k] or 1) - log(total + pw) end
  local dens = {
    n = n, total = total, ids = ids, prior_weight = pw, cols = {}, m = {}, lambda = {}, weights = weights,
    log_same = {}, log_other = {}, sd = {}, nh = {}, logc = logc, acc = filled(n, 0),
  }
  local log_prior = pw > 0 and log(pw) - log(total + pw) or NEG_INF
  local factor = n ^ (-1 / (#ids + 4))
  for j, i in ipairs(ids) do
    local dim, col = dims[i], cols[i]
    dens.cols[j] = col
    if dim.m then
      add_categorical(dens, j, dim.m, n)
      log_prior = log_prior - log(dim.m)
    elseif opts.multivariate then
      add_numeric(dens, j, col, filled(n, scott_width(col, n, factor, dim.narrowest, pw)))
    else
      add_numeric(dens, j, col, neighbour_widths(col, n, dim.narrowest))
    end
  end
  dens.log_prior = log_prior
  return dens
end

-- log(exp(extra) + sum of exp(acc[k])), without overflow. Terms below
-- e^-40 of the largest change nothing a double can hold and are skipped.
local function log_sum_exp(acc, n, extra)
  local top = extra
  for k = 1, n do
    if acc[k] > top then top = acc[k] end
  end
  if top == NEG_INF then return NEG_INF end
  local sum, cut = exp(extra - top), top - 40
  for k = 1, n do
    local a = acc[k]
    if a > cut then sum = sum + exp(a - top) end
  end
  return top + log(sum)
end

-- acc[k] = base[k] + log of kernel k's factor for covered dimension j at x.
local function add_dimension(dens, j, x, base)
  local n, acc, col, xj = dens.n, dens.acc, dens.cols[j], x[dens.ids[j]]
  if dens.m[j] then
    local same, other = dens.log_same[j], dens.log_other[j]
    for k = 1, n do
      acc[k] = base[k] + (col[k] == xj and same or other)
    end
  else
    local nh = dens.nh[j]
    for k = 1, n do
      local dx = xj - col[k]
      acc[k] = base[k] + nh[k] * dx * dx
    end
  end
end

local function density_log(dens, x)
  add_dimension(dens, 1, x, dens.logc)
  for j = 2, #dens.ids do add_dimension(dens, j, x, dens.acc) end
  return log_sum_exp(dens.acc, dens.n, dens.log_prior)
end

local function truncated_normal(rng, mu, sd)
  for _ = 1, 32 do
    local x = rng:normal(mu, sd)
    if x >= 0 and x <= 1 then return x end
  end
  return rng:random() -- only a very wide kernel misses 32 times: nearly uniform
end

local function category_near(rng, c, m, lambda)
  if m == 1 or rng:random() >= lambda then return c end
  local other = rng:randint(1, m - 1)
  if other >= c then other = other + 1 end
  return other
end

-- The kernel at r in [0, total) of the kernels' weights laid end to end.
local function kernel_at(dens, r)
  local w, k = dens.weights, 1
  if not w then return min(floor(r) + 1, dens.n) end
  while k < dens.n and r >= w[k] do r, k = r - w[k], k + 1 end
  return k
end

-- Draws one component (the prior or a kernel), then the covered coordinates
-- of u from it (unit coordinates; a category as its bucket's centre).
local function density_sample(dens, rng, u, widen)
  local r = rng:random() * (dens.total + dens.prior_weight)
  local k = r >= dens.prior_weight and kernel_at(dens, r - dens.prior_weight) or nil
  for j = 1, #dens.ids do
    local i, m = dens.ids[j], dens.m[j]
    if k == nil then
      u[i] = rng:random()
    elseif m then
      u[i] = (category_near(rng, dens.cols[j][k], m, dens.lambda[j]) - 0.5) / m
    else
      u[i] = truncated_normal(rng, dens.cols[j][k], dens.sd[j][k] * widen)
    end
  end
end

---------------------------------------------------------------------------
-- The model: one joint density (multivariate) or one per dimension
---------------------------------------------------------------------------

local function new_model(cols, n, dims, opts, weights)
  if opts.multivariate then
    local ids = {}
    for i = 1, #dims do ids[i] = i end
    return { new_density(cols, n, dims, ids, opts, weights) }
  end
  local model = {}
  for i = 1, #dims do model[i] = new_density(cols, n, dims, { i }, opts, weights) end
  return model
end

local function model_log(model, x)
  local sum = 0
  for i = 1, #model do sum = sum + density_log(model[i], x) end
  return sum
end

local function model_sample(model, rng, widen)
  local u = {}
  for i = 1, #model do density_sample(model[i], rng, u, widen) end
  return u
end

---------------------------------------------------------------------------
-- Proposing
---------------------------------------------------------------------------

-- Indices of obs from best to worst score; ties keep their order.
local function ranked(obs)
  local order = {}
  for k = 1, #obs do order[k] = k end
  table.sort(order, function(a, b)
    local sa, sb = obs[a].score, obs[b].score
    if sa ~= sb then return sa < sb end
    return a < b
  end)
  return order
end

local function good_count(n, gamma)
  local good = gamma and ceil(gamma * n) or min(ceil(0.1 * n), 25)
  return clamp(good, 1, n - 1)
end

-- cols[i][k]: coordinate i of points[order[first + k - 1]].
local function columns(points, order, first, last, d)
  local cols = {}
  for i = 1, d do
    local col = {}
    for r = first, last do col[r - first + 1] = points[order[r]][i] end
    cols[i] = col
  end
  return cols
end

local function is_known(points, x, d)
  for k = 1, #points do
    local p, i = points[k], 1
    while i <= d and p[i] == x[i] do i = i + 1 end
    if i > d then return true end
  end
  return false
end

-- The candidate drawn from `good` with the highest log l(x) - log g(x) that
-- is not one of `points`; nil when every candidate is.
local function best_candidate(space, rng, dims, good, bad, points, n_candidates, widen)
  local best, best_score
  for _ = 1, n_candidates do
    local params = space:from_unit(model_sample(good, rng, widen))
    local x = to_point(space, dims, params)
    if not is_known(points, x, #dims) then
      local score = model_log(good, x) - model_log(bad, x)
      if score ~= score then score = NEG_INF end
      if best == nil or score > best_score then best, best_score = params, score end
    end
  end
  return best
end

-- `order` (best first) rearranged so that repeats come last, and how many
-- observations are not repeats. A repeat is a result whose score equals,
-- bit for bit, one already ranked before it: a deterministic objective that
-- gives two configurations exactly the same value maps them to the same
-- thing (a table's row, parameters the training function rounds), so a
-- repeat tells nothing new about where to go. Repeats join the bad density:
-- a region that keeps giving a result already known loses its appeal, and
-- the good density is spread over distinct results instead of piling onto
-- one plateau. Pending trials (all at the same lie) are never repeats.
local function repeats_last(obs, order)
  local seen, firsts, repeats = {}, {}, {}
  for _, k in ipairs(order) do
    local o = obs[k]
    if o.pending or not seen[o.score] then
      if not o.pending then seen[o.score] = true end
      firsts[#firsts + 1] = k
    else
      repeats[#repeats + 1] = k
    end
  end
  local distinct = #firsts
  for _, k in ipairs(repeats) do firsts[#firsts + 1] = k end
  return firsts, distinct
end

-- The weights of the kernels of g(x), for points[order[first..]]: a pending
-- trial's is `weight`, a result's 1; nil when all are 1.
local function pending_weights(obs, order, first, weight)
  local weights, any = {}, false
  for r = first, #order do
    local pending = obs[order[r]].pending
    weights[r - first + 1] = pending and weight or 1
    any = any or (pending and weight ~= 1)
  end
  return any and weights or nil
end

-- How much wider than l(x)'s kernels the candidates are drawn: from 1, when
-- no result repeats a good one (bit for bit), up to `most`. A good result
-- that keeps coming back means the good density sits on a plateau (a table
-- looked up, parameters the training function rounds): the candidates
-- spread out to find its edge, where l(x) alone keeps drawing onto it. They
-- are still scored with the real widths. The share is that of the repeats
-- among the good results and their repeats; repeats of worse results (a
-- noisy metric quantized to a test set's size gives many) leave the width
-- alone, and an objective that never gives the same value twice is not
-- affected at all. `order` puts the n_good good results first and the
-- repeats after the `distinct` others (repeats_last).
local function widening(obs, order, n_good, distinct, most)
  local good, again = {}, 0
  for r = 1, n_good do
    local o = obs[order[r]]
    if not o.pending then good[o.score] = true end
  end
  for r = distinct + 1, #order do
    if good[obs[order[r]].score] then again = again + 1 end
  end
  return 1 + (most - 1) * again / (n_good + again)
end

-- See the header. opts: as returned by Tpe.defaults (nil for the defaults).
function Tpe.propose(space, rng, obs, opts)
  opts = opts or Tpe.defaults()
  local n = #obs
  if n < 2 then return nil end
  local dims = describe_dims(space, opts.bandwidth_floor)
  local points = {}
  for k = 1, n do points[k] = to_point(space, dims, obs[k].params) end
  local order, distinct = ranked(obs), n
  if opts.demote_repeats then order, distinct = repeats_last(obs, order) end
  if distinct < 2 then return nil end
  local n_good = good_count(distinct, opts.gamma)
  local good = new_model(columns(points, order, 1, n_good, #dims), n_good, dims, opts)
  local bad = new_model(columns(points, order, n_good + 1, n, #dims), n - n_good, dims, opts,
                        pending_weights(obs, order, n_good + 1, opts.pending_weight))
  local widen = widening(obs, order, n_good, distinct, opts.plateau_widening)
  return best_candidate(space, rng, dims, good, bad, points, opts.n_candidates, widen)
end

---------------------------------------------------------------------------
-- The optimizer
---------------------------------------------------------------------------

function Tpe.new(opts)
  local checked, err = normalize(opts)
  if not checked then error(err, 2) end
  return setmetatable({ name = "tpe", opts = checked }, objects)
end

-- Random until n_startup trials have results (pending ones do not count);
-- then the model, fed the results and the pending trials at the lie.
function Tpe:suggest(ctx)
  local obs = history.observed(ctx)
  if #obs >= self.opts.n_startup then
    local lied = self.opts.lie == "none" and obs or history.with_pending(ctx, obs, self.opts.lie)
    local params = Tpe.propose(ctx.space, ctx.rng, lied, self.opts)
    if params then return params end
  end
  return ctx.space:sample(ctx.rng)
end

return Tpe
