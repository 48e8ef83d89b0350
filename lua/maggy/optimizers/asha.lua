-- ASHA, asynchronous successive halving: new configurations start on a small
-- budget; a configuration moves up one rung (eta times the budget) as soon as
-- it is among the best 1/eta of the results seen so far on its rung. No one
-- ever waits for a rung to fill up, so every idle worker always gets a trial.
--
-- Rungs k = 0..K, K = floor(log_eta(max_budget / min_budget)); rung k runs at
-- min_budget * eta^k, except the top rung, which runs at max_budget (so the
-- best configurations get the full budget even when max/min is not a power of
-- eta; when it is, both are the same). Budgets are rounded to integers when
-- min_budget and eta are integers (e.g. epochs).
--
-- suggest() looks from the second-highest rung down for a configuration that
-- is in the top floor(n_k / eta) of the n_k results of rung k and was not
-- promoted yet, and suggests it again (same params, the next rung's budget).
-- Otherwise it suggests a new configuration on the bottom rung. It never
-- returns maggy.WAIT and never runs out, so the experiment must give
-- num_trials (there is no count()).
--
-- A trial counts on its rung once it ends: FINISHED and EARLY_STOPPED ones
-- with their value (an early-stopped trial without one, with the last value
-- it reported), FAILED ones as the worst possible result.
--
-- Parameters:
--   eta         reduction factor, a number >= 2 (default 3)
--   min_budget  budget of the bottom rung, > 0 (default 1)
--   max_budget  budget of the top rung, >= min_budget (default 81)
--   sampler     function(ctx, budget) -> params for a new configuration
--               (default: ctx.space:sample(ctx.rng))
--
-- Paper: Li, Jamieson, Rostamizadeh, Gonina, Ben-tzur, Hardt, Recht and
-- Talwalkar, "A System for Massively Parallel Hyperparameter Tuning",
-- MLSys 2020 (Algorithm 2, with early-stopping rate s = 0).
--
--   asha{eta = 3, min_budget = 1, max_budget = 81}

local budgets = require "maggy.optimizers.budgets"
local heap = require "maggy.heap"

local Asha = {}
local objects = { __index = Asha } -- their metatable: not Asha itself (sandbox.lua)

local OPTIONS = { "eta", "min_budget", "max_budget", "sampler" }

local floor = math.floor
local EPS = 1e-9 -- slack for eta^k computed in floating point

-- The rung budgets, bottom first (see the header).
function Asha.budgets(eta, min_budget, max_budget)
  local err = budgets.check({ eta = eta, min_budget = min_budget, max_budget = max_budget }, OPTIONS)
  if err then error("optimizers.asha: " .. err, 2) end
  local integral = budgets.is_integer(eta) and budgets.is_integer(min_budget)
  local out = { min_budget }
  while min_budget * eta ^ #out <= max_budget * (1 + EPS) do
    local b = min_budget * eta ^ #out
    out[#out + 1] = integral and floor(b + 0.5) or b
  end
  out[#out] = max_budget
  return out
end

-- Ties go to the older trial, so the order does not depend on timing.
local function ahead(a, b)
  if a.score ~= b.score then return a.score < b.score end
  return a.seq < b.seq
end

-- A rung's results split in two heaps (maggy.heap's split): `top` holds its
-- best floor(n / eta) with the worst of them on top, `rest` the others with
-- the best on top. Whether an entry is in the top 1/eta is then one
-- comparison, and an insert costs O(log n): no sorted list to shift at
-- 100,000 trials.
local function add_result(rung, entry, eta)
  local n = #rung.top + #rung.rest + 1
  heap.split_add(rung, entry, floor(n / eta + EPS))
end

local function in_top(rung, entry)
  return rung.top[1] ~= nil and not ahead(rung.top[1], entry)
end

function Asha.new(opts)
  opts = opts or {}
  local err = budgets.check(opts, OPTIONS)
  if err then error("optimizers.asha: " .. err, 2) end
  local self = setmetatable({
    name = "asha",
    eta = opts.eta or 3,
    budgets = Asha.budgets(opts.eta or 3, opts.min_budget or 1, opts.max_budget or 81),
    sampler = opts.sampler or budgets.random_sampler,
    rung_of = {},   -- budget (as "%.17g") -> rung index, 1-based
    rungs = {},     -- rungs[i]: the ended trials of rung i (see add_result)
    open = {},      -- open[i]: those not promoted yet, a heap, best on top
    promoted = {},  -- promoted[i][key]: the configuration went up from rung i
  }, objects)
  for i, b in ipairs(self.budgets) do
    self.rung_of[string.format("%.17g", b)] = i
    self.rungs[i], self.open[i], self.promoted[i] = heap.split(ahead), {}, {}
  end
  return self
end

local function with_budget(space, params, budget)
  if type(params) ~= "table" then
    error("optimizers.asha: the sampler must return a params table, got " .. type(params), 3)
  end
  local out = budgets.space_params(space, params)
  out.budget = budget
  return out
end

-- Records an ended trial on its rung.
function Asha:observe(ctx, trial)
  local budget = trial.params.budget
  local i = budget and self.rung_of[string.format("%.17g", budget)]
  if not i then return end
  local entry = {
    params = budgets.space_params(ctx.space, trial.params), key = ctx.space:key(trial.params),
    score = budgets.trial_score(ctx, trial), seq = trial.seq,
  }
  add_result(self.rungs[i], entry, self.eta)
  heap.push(self.open[i], ahead, entry)
end

-- The best configuration of rung i that is in its top 1/eta and was not
-- promoted yet, or nil: the best of open[i] (promoted keys leave it), if
-- it is in the top floor(n / eta) of the rung's n results.
function Asha:promotable(i)
  local open, promoted = self.open[i], self.promoted[i]
  while open[1] and promoted[open[1].key] do heap.pop(open, ahead) end
  local best = open[1]
  if best and in_top(self.rungs[i], best) then
    return best
  end
  return nil
end

function Asha:suggest(ctx)
  for i = #self.budgets - 1, 1, -1 do
    local entry = self:promotable(i)
    if entry then
      self.promoted[i][entry.key] = true
      heap.pop(self.open[i], ahead)
      return with_budget(ctx.space, entry.params, self.budgets[i + 1])
    end
  end
  local bottom = self.budgets[1]
  return with_budget(ctx.space, self.sampler(ctx, bottom), bottom)
end

return Asha
