-- Bayesian optimization with a Gaussian process: a GP (gp_model.lua) learns
-- the score of the trials so far as a function of their parameters, and the
-- next trial goes where an acquisition function, built from the GP's mean
-- and uncertainty, is highest.
--
--   gp{}                                  -- expected improvement, defaults
--   gp{acquisition = "ucb", kappa = 3}    -- lower confidence bound instead
--
-- Parameters:
--   n_startup       random trials before the model is used (default
--                   max(10, 2 * number of parameters))
--   acquisition     "ei" (expected improvement, default) or "ucb" (the
--                   confidence bound mean - kappa * sd, for the lower-is-
--                   better score)
--   xi              EI's margin, in standard deviations of the scores
--                   (default 0: a margin of 0.01 sd kept the GP from
--                   closing in on an optimum, 1e-3 off on Branin where
--                   Optuna's GPSampler reaches 1e-5)
--   kappa           UCB's weight on the uncertainty (default 2)
--   n_candidates    random points the acquisition is evaluated at before
--                   local refinement (default 512)
--   pending         how trials still running count: "kriging" (default, the
--                   kriging believer: a fake observation at the GP mean),
--                   "liar" (the constant liar with the worst score seen) or
--                   "ignore" (left out: the naive batch, for comparison)
--   max_fit_points  the most trials the hyperparameter fit uses (default
--                   200: the best quarter and an even spread of the rest);
--                   the posterior always uses every trial
--   demote_repeats  a result equal, bit for bit, to an earlier one is a
--                   repeat: the model sees a better-than-average repeat at
--                   the mean score (default true; see repeats_at_mean)
--
-- The model's inputs are the space's unit cube (space:to_unit, log-aware),
-- except that a CATEGORICAL parameter becomes one input per value (one-hot),
-- so the model does not assume an order between categories. Candidate
-- points are rounded to the values the space allows (integers, discrete
-- values, categories) before they are scored, so the acquisition is
-- evaluated where a trial would really run. The scores (lower is better,
-- history.lua) are standardized to mean 0 and standard deviation 1.
--
-- EI is ranked on the log scale, computed without underflow far from the
-- data (Ament et al., "Unexpected Improvements to Expected Improvement for
-- Bayesian Optimization", NeurIPS 2023).
--
-- Papers: Jones, Schonlau and Welch, "Efficient Global Optimization of
-- Expensive Black-Box Functions", 1998 (EI); Srinivas et al., "Gaussian
-- Process Optimization in the Bandit Setting", ICML 2010 (UCB); Snoek,
-- Larochelle and Adams, "Practical Bayesian Optimization of Machine Learning
-- Algorithms", NIPS 2012 (Matern 5/2 ARD, pending trials); Ginsbourger, Le
-- Riche and Carraro, "Kriging Is Well-Suited to Parallelize Optimization",
-- 2010 (kriging believer, constant liar).

local history = require "maggy.optimizers.history"
local options = require "maggy.options"
local la = require "maggy.optimizers.gp_linalg"
local model = require "maggy.optimizers.gp_model"

local exp, log, sqrt, floor, min, max = math.exp, math.log, math.sqrt, math.floor, math.min, math.max

local GP = {}
local objects = { __index = GP } -- their metatable: not GP itself (sandbox.lua)

local DEFAULTS = {
  acquisition = "ei", xi = 0, kappa = 2, n_candidates = 512,
  pending = "kriging", max_fit_points = 200, demote_repeats = true,
}

local MIN_OBSERVED = 2     -- a model needs at least two scores
local SEEDS = 4            -- best random candidates refined locally
local ROUNDS = 8           -- refinement rounds
local PER_SEED = 8         -- perturbations of each seed per round
local FIRST_STEP = 0.1     -- refinement step (sd, unit cube); halves when a round fails

---------------------------------------------------------------------------
-- Options
---------------------------------------------------------------------------

local function is_integer(v)
  return type(v) == "number" and v == floor(v) and v >= -2 ^ 53 and v <= 2 ^ 53
end

local function finite_nonnegative(v)
  return type(v) == "number" and v >= 0 and v < math.huge
end

local function one_of(...)
  local set = {}
  for _, v in ipairs({ ... }) do set[v] = true end
  return function(v) return set[v] == true end
end

-- name -> {check, what a valid value is}
local OPTIONS = {
  n_startup = { function(v) return is_integer(v) and v >= 1 end, "an integer >= 1" },
  acquisition = { one_of("ei", "ucb"), "\"ei\" or \"ucb\"" },
  xi = { finite_nonnegative, "a number >= 0" },
  kappa = { finite_nonnegative, "a number >= 0" },
  n_candidates = { function(v) return is_integer(v) and v >= 1 end, "an integer >= 1" },
  pending = { one_of("kriging", "liar", "ignore"), "\"kriging\", \"liar\" or \"ignore\"" },
  max_fit_points = { function(v) return is_integer(v) and v >= MIN_OBSERVED end,
                     "an integer >= " .. MIN_OBSERVED },
  demote_repeats = { function(v) return type(v) == "boolean" end, "true or false" },
}

local function show(v)
  if type(v) == "string" then return string.format("string '%s'", v) end
  if type(v) == "number" or type(v) == "boolean" then return type(v) .. " " .. tostring(v) end
  return type(v)
end

local OPTION_NAMES = {}
for name in pairs(OPTIONS) do OPTION_NAMES[#OPTION_NAMES + 1] = name end
table.sort(OPTION_NAMES)

-- nil when opts is valid, else a message naming the first bad option.
local function check_options(opts)
  if type(opts) ~= "table" then
    return "optimizers.gp: expected an options table, got " .. type(opts)
  end
  local bad = options.unknown(opts, OPTION_NAMES)
  if bad then return "optimizers.gp: " .. bad end
  for _, k in ipairs(OPTION_NAMES) do
    local spec, v = OPTIONS[k], opts[k]
    if v ~= nil and not spec[1](v) then
      return string.format("optimizers.gp: option '%s' must be %s, got %s", k, spec[2], show(v))
    end
  end
  return nil
end

function GP.new(opts)
  opts = opts or {}
  local err = check_options(opts)
  if err then error(err, 2) end
  local self = setmetatable({ name = "gp", n_startup = opts.n_startup }, objects)
  for k, v in pairs(DEFAULTS) do
    if opts[k] == nil then self[k] = v else self[k] = opts[k] end
  end
  return self
end

---------------------------------------------------------------------------
-- The model's inputs
---------------------------------------------------------------------------

-- How each parameter (name order) maps to the model's inputs: one input at
-- `offset`, or `width` one-hot inputs for a CATEGORICAL one. Returns the
-- list and the number of inputs D.
local function encoding(space)
  local enc, D = {}, 0
  for i, name in ipairs(space:names()) do
    local p = space:param(name)
    local categorical = p.type == "CATEGORICAL"
    enc[i] = { offset = D, width = categorical and #p.values or 1, categorical = categorical }
    D = D + enc[i].width
  end
  return enc, D
end

-- Writes the inputs for unit point u (a list, to_unit order) at X[off..].
local function encode(enc, u, X, off)
  for i, e in ipairs(enc) do
    if e.categorical then
      local hot = min(floor(u[i] * e.width), e.width - 1)
      for k = 0, e.width - 1 do X[off + e.offset + k] = k == hot and 1 or 0 end
    else
      X[off + e.offset] = u[i]
    end
  end
end

-- The unit point of the trial that u would give: integers, discrete values
-- and categories rounded the way space:from_unit rounds them.
local function snap(space, u)
  return space:to_unit(space:from_unit(u))
end

---------------------------------------------------------------------------
-- Data: standardized scores, the fit subset
---------------------------------------------------------------------------

local function mean_sd(obs)
  local n, sum = #obs, 0
  for _, o in ipairs(obs) do sum = sum + o.score end
  local mean, ss = sum / n, 0
  for _, o in ipairs(obs) do ss = ss + (o.score - mean) ^ 2 end
  local sd = sqrt(ss / max(n - 1, 1))
  if not (sd > 0) then sd = 1 end
  return mean, sd
end

-- Inputs and standardized outputs of a list of {params, score}; the mean
-- and sd come from the real observations only.
local function dataset(self, space, list, mean, sd)
  local n, D = #list, self.D
  local X, y = la.vector(n * D), la.vector(n)
  for i, o in ipairs(list) do
    encode(self.enc, space:to_unit(o.params), X, (i - 1) * D)
    y[i - 1] = (o.score - mean) / sd
  end
  return X, y
end

-- A stand-in for a random draw that does not move as trials are added:
-- the fractional part of seq times the golden ratio spreads over [0, 1)
-- (a Weyl sequence), so the fit subset changes by a point or two between
-- suggestions and the warm-started fit converges in a few steps.
local function spread_rank(seq)
  return (seq * 0.6180339887498949) % 1
end

-- The observations the hyperparameter fit uses: all of them, or the best
-- quarter of max_fit_points and a spread of the rest, in their order.
local function fit_subset(self, obs)
  local m = self.max_fit_points
  if #obs <= m then return obs end
  local by_score, by_spread = {}, {}
  for i = 1, #obs do by_score[i] = i end
  table.sort(by_score, function(a, b)
    if obs[a].score ~= obs[b].score then return obs[a].score < obs[b].score end
    return a < b
  end)
  local chosen, keep = {}, {}
  for i = 1, floor(m / 4) do keep[by_score[i]] = true end
  for i = 1, #obs do
    if not keep[i] then by_spread[#by_spread + 1] = i end
  end
  table.sort(by_spread, function(a, b) return spread_rank(obs[a].trial.seq) < spread_rank(obs[b].trial.seq) end)
  for i = 1, m - floor(m / 4) do keep[by_spread[i]] = true end
  for i = 1, #obs do
    if keep[i] then chosen[#chosen + 1] = obs[i] end
  end
  return chosen
end

-- The observations with every repeat of a better-than-average result moved
-- to the mean score. A repeat is a result equal, bit for bit, to one
-- observed before it: a deterministic objective that gives two
-- configurations exactly the same value maps them to the same thing (a
-- table's row, parameters the training function rounds), so it says "a
-- plateau", not "a good place". Left as they are, repeats of a good value
-- teach the GP a wide flat optimum and EI keeps drawing trials onto it
-- (lcbench_7593: half the seeds stuck 7.6 below the optimum after 100
-- trials); at the mean they stop pulling, and the first of them still marks
-- the plateau's value. A repeat never looks better than it is: repeats of
-- a bad value (architectures that all fail to learn) stay bad.
local function repeats_at_mean(obs)
  local sum = 0
  for _, o in ipairs(obs) do sum = sum + o.score end
  local mean, seen, out = sum / #obs, {}, {}
  for i, o in ipairs(obs) do
    if seen[o.score] and o.score < mean then
      out[i] = { params = o.params, score = mean, trial = o.trial }
    else
      seen[o.score], out[i] = true, o
    end
  end
  return out
end

---------------------------------------------------------------------------
-- Acquisition functions (higher is better)
---------------------------------------------------------------------------

local LOG_SQRT_2PI = 0.5 * log(2 * math.pi)
local TAIL = 3   -- |z| from which the normal tail uses the Mills ratio

local function pdf(z)
  return exp(-0.5 * z * z - LOG_SQRT_2PI)
end

-- Mills ratio Phi(-t) / phi(t) for t >= TAIL, by its continued fraction
-- 1 / (t + 1 / (t + 2 / (t + 3 / ...))), evaluated from depth 60 upward.
local function mills(t)
  local r = t
  for k = 60, 1, -1 do r = t + k / r end
  return 1 / r
end

-- Standard normal CDF: Marsaglia's series phi(z) (z + z^3/3 + z^5/15 + ...)
-- in the middle, the Mills ratio in the tails.
local function cdf(z)
  if z <= -TAIL then return pdf(z) * mills(-z) end
  if z >= TAIL then return 1 - pdf(z) * mills(z) end
  local term, sum, k = z, z, 1
  while math.abs(term) > 1e-17 * math.abs(sum) do
    k = k + 2
    term = term * z * z / k
    sum = sum + term
  end
  return 0.5 + pdf(z) * sum
end

-- log(phi(z) + z Phi(z)): log EI of a unit normal over a margin z. Far
-- below, phi(z) + z Phi(z) = phi(z) (1 - t m(t)) with t = -z, which keeps
-- its digits where EI itself would underflow.
local function log_h(z)
  if z > -TAIL then return log(pdf(z) + z * cdf(z)) end
  local t = -z
  return -0.5 * z * z - LOG_SQRT_2PI + log(1 - t * mills(t))
end

local ACQUISITIONS = {
  ei = function(self, mu, var, best)
    local sd = sqrt(var)
    return log(sd) + log_h((best - mu - self.xi) / sd)
  end,
  ucb = function(self, mu, var)
    return self.kappa * sqrt(var) - mu
  end,
}

-- Acquisition values at a list of unit points.
local function score_points(self, post, points, best)
  local m, D = #points, self.D
  local C = la.vector(m * D)
  for c, u in ipairs(points) do encode(self.enc, u, C, (c - 1) * D) end
  local mu, var = la.vector(m), la.vector(m)
  post:predict(C, m, mu, var)
  local acquire, out = ACQUISITIONS[self.acquisition], {}
  for c = 1, m do out[c] = acquire(self, mu[c - 1], var[c - 1], best) end
  return out
end

---------------------------------------------------------------------------
-- Maximizing the acquisition
---------------------------------------------------------------------------

local function clamp01(x)
  if x < 0 then return 0 end
  if x > 1 then return 1 end
  return x
end

-- A perturbed copy of u: every coordinate moved by a normal step of sd
-- `step` (odd k), or one coordinate by twice that (even k).
local function perturb(rng, u, step, k)
  local v = {}
  for i = 1, #u do v[i] = u[i] end
  if k % 2 == 1 then
    for i = 1, #v do v[i] = clamp01(v[i] + rng:normal(0, step)) end
  else
    local i = rng:randint(1, #v)
    v[i] = clamp01(v[i] + rng:normal(0, 2 * step))
  end
  return v
end

-- Local search from each seed ({u, value}), all seeds batched per round. A
-- seed moves to its best perturbation when that is better, else its step
-- halves. Every point scored is appended to `pool`.
local function refine(self, ctx, post, best, seeds, pool)
  local steps = {}
  for s = 1, #seeds do steps[s] = FIRST_STEP end
  for _ = 1, ROUNDS do
    local batch, owner = {}, {}
    for s, seed in ipairs(seeds) do
      for k = 1, PER_SEED do
        batch[#batch + 1] = snap(ctx.space, perturb(ctx.rng, seed.u, steps[s], k))
        owner[#batch] = s
      end
    end
    local values = score_points(self, post, batch, best)
    local moved = {}
    for b, u in ipairs(batch) do
      local seed = seeds[owner[b]]
      pool[#pool + 1] = { u = u, value = values[b] }
      if values[b] > seed.value then seed.u, seed.value, moved[owner[b]] = u, values[b], true end
    end
    for s = 1, #seeds do
      if not moved[s] then steps[s] = steps[s] / 2 end
    end
  end
end

-- Sorts points by value, best first; ties keep their order.
local function rank(pool)
  for i, p in ipairs(pool) do p.order = i end
  table.sort(pool, function(a, b)
    if a.value ~= b.value then return a.value > b.value end
    return a.order < b.order
  end)
  return pool
end

-- The starting points of the refinement: the best random candidates and
-- the best trial so far.
local function seeds_from(pool, incumbent)
  local seeds = { { u = incumbent.u, value = incumbent.value } }
  for i = 1, min(SEEDS, #pool) do
    seeds[#seeds + 1] = { u = pool[i].u, value = pool[i].value }
  end
  return seeds
end

-- The params of the best-scoring point no trial has yet, or a random draw
-- when every point scored is taken.
local function first_new(ctx, pool)
  local taken = {}
  for _, t in ipairs(ctx:trials()) do taken[ctx.space:key(t.params)] = true end
  for _, p in ipairs(rank(pool)) do
    local params = ctx.space:from_unit(p.u)
    if not taken[ctx.space:key(params)] then return params end
  end
  return ctx.space:sample(ctx.rng)
end

-- The suggestion: the acquisition at n_candidates random points and at the
-- best trial so far, the best few of them refined locally, and the best
-- point scored that is not a trial yet.
local function maximize(self, ctx, post, best, incumbent_u)
  local d, pool = #ctx.space:names(), {}
  for c = 1, self.n_candidates do
    local u = {}
    for i = 1, d do u[i] = ctx.rng:random() end
    pool[c] = snap(ctx.space, u)
  end
  pool[#pool + 1] = incumbent_u
  local values = score_points(self, post, pool, best)
  for c, u in ipairs(pool) do pool[c] = { u = u, value = values[c] } end
  local incumbent = pool[#pool]
  refine(self, ctx, post, best, seeds_from(rank(pool), incumbent), pool)
  return first_new(ctx, pool)
end

---------------------------------------------------------------------------
-- The model for one suggestion
---------------------------------------------------------------------------

-- Trials that count towards the startup phase: all but the failed ones.
local function started(ctx)
  return #ctx:trials() - #ctx:trials("FAILED")
end

local function setup(self, space)
  if self.enc then return end
  self.enc, self.D = encoding(space)
  self.n_startup = self.n_startup or max(10, 2 * space:size())
end

-- Hyperparameters fitted on (a subset of) the observations, warm-started
-- from the previous fit.
local function fit(self, ctx, obs, mean, sd)
  local subset = fit_subset(self, obs)
  local X, y = dataset(self, ctx.space, subset, mean, sd)
  self.theta = model.fit(X, y, #subset, self.D, self.theta)
  return self.theta
end

-- Adds every pending trial at the posterior mean (kriging believer).
local function believe_pending(self, ctx, post)
  local x = la.vector(self.D)
  for _, t in ipairs(history.pending(ctx)) do
    encode(self.enc, ctx.space:to_unit(t.params), x, 0)
    post:add(x, post:mean(x))
  end
end

-- The posterior given the observations and the pending trials.
local function posterior(self, ctx, obs, mean, sd, theta)
  local list = obs
  local pending = self.pending == "ignore" and 0 or #history.pending(ctx)
  if self.pending == "liar" then list, pending = history.with_pending(ctx, obs, "worst"), 0 end
  local X, y = dataset(self, ctx.space, list, mean, sd)
  local post = model.posterior(X, y, #list, self.D, #list + pending, theta)
  if self.pending == "kriging" then believe_pending(self, ctx, post) end
  return post
end

-- The lowest output the model holds (real or believed), and the unit point
-- of the best observation.
local function incumbent(ctx, post, obs)
  local best = math.huge
  for i = 0, post.n - 1 do best = min(best, post.y[i]) end
  local top = obs[1]
  for _, o in ipairs(obs) do
    if o.score < top.score then top = o end
  end
  return best, ctx.space:to_unit(top.params)
end

---------------------------------------------------------------------------
-- The optimizer contract
---------------------------------------------------------------------------

-- Random params during the startup phase, then the acquisition's maximum.
function GP:suggest(ctx)
  setup(self, ctx.space)
  local obs = history.observed(ctx)
  if self.demote_repeats then obs = repeats_at_mean(obs) end
  if started(ctx) < self.n_startup or #obs < MIN_OBSERVED then
    return ctx.space:sample(ctx.rng)
  end
  local mean, sd = mean_sd(obs)
  local theta = fit(self, ctx, obs, mean, sd)
  local post = posterior(self, ctx, obs, mean, sd, theta)
  local best, best_u = incumbent(ctx, post, obs)
  return maximize(self, ctx, post, best, best_u)
end

-- The fitted length scales, by parameter name (a categorical's is the
-- smallest of its one-hot inputs'), for logs and tests; nil before a fit.
function GP:length_scales(ctx)
  if not self.theta then return nil end
  local out = {}
  for i, name in ipairs(ctx.space:names()) do
    local e = self.enc[i]
    local l = math.huge
    for k = 0, e.width - 1 do l = min(l, exp(self.theta[e.offset + k + 1])) end
    out[name] = l
  end
  return out
end

-- Logs the last fitted length scales: short means the score is sensitive
-- to that parameter.
function GP:finalize(ctx)
  local scales = self:length_scales(ctx)
  if not scales then return end
  local parts = {}
  for i, name in ipairs(ctx.space:names()) do
    parts[i] = string.format("%s=%.3g", name, scales[name])
  end
  ctx:log("gp: length scales (unit cube) %s", table.concat(parts, " "))
end

GP._cdf, GP._log_h, GP._repeats_at_mean = cdf, log_h, repeats_at_mean -- for tests

return GP
