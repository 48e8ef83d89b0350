-- Hyperband: successive halving run in several brackets that trade the number
-- of configurations against the budget each one starts with, so that no single
-- guess of "how early can a bad configuration be recognized" is needed.
--
-- With R = max_budget / min_budget and s_max = floor(log_eta(R)), bracket
-- s = s_max, ..., 0 starts n = ceil((s_max + 1) / (s + 1) * eta^s) new
-- configurations at budget max_budget * eta^-s. Rung i of the bracket runs
-- n_i = floor(n * eta^-i) configurations at max_budget * eta^(i-s): the best
-- n_i of rung i - 1. Hyperband.brackets(eta, min_budget, max_budget) lists
-- them; for (3, 1, 81), as (n, budget):
--
--   (81,1) (27,3) (9,9) (3,27) (1,81)
--   (34,3) (11,9) (3,27) (1,81)
--   (15,9) (5,27) (1,81)
--   (8,27) (2,81)
--   (5,81)
--
-- Budgets are rounded to integers (e.g. epochs) when eta, min_budget and
-- max_budget are all integers. Each trial is an independent run: a promoted
-- configuration is suggested again with the larger budget.
--
-- Synchronous, as in the paper: suggest() returns maggy.WAIT while results of
-- the current rung are missing, and brackets run one after another, each
-- starting when the previous one has ended. (ASHA keeps every worker busy.)
-- After `iterations` passes over all brackets suggest() returns nil; count()
-- gives the number of trials of the whole run.
--
-- A trial counts once it ends: FINISHED and EARLY_STOPPED ones with their
-- value (an early-stopped trial without one, with the last value it
-- reported), FAILED ones as the worst possible result. Ties go to the
-- configuration drawn first.
--
-- Small spaces: new configurations are drawn until one has not run at that
-- budget yet (at most 100 draws); a bracket that cannot find n distinct ones
-- starts with fewer and keeps max(1, floor(found / eta)) per rung. A promoted
-- configuration that already ran at the next budget in an earlier bracket
-- reuses that result instead of running again. count() is exact whenever
-- neither happens, which in practice means any space with a DOUBLE parameter.
--
-- Parameters:
--   eta         reduction factor, a number >= 2 (default 3)
--   min_budget  smallest budget, > 0 (default 1)
--   max_budget  largest budget, >= min_budget (default 81)
--   iterations  passes over all brackets, a positive integer (default 1)
--   brackets    how many brackets per pass, the most aggressive first
--               (default: all); brackets = 1 is synchronous successive
--               halving (Jamieson and Talwalkar, AISTATS 2016)
--   sampler     function(ctx, budget) -> params of a new configuration
--               (default: ctx.space:sample(ctx.rng)); BOHB plugs its model here
--
-- Paper: Li, Jamieson, DeSalvo, Rostamizadeh and Talwalkar, "Hyperband: A Novel
-- Bandit-Based Approach to Hyperparameter Optimization", JMLR 18, 2018
-- (Algorithm 1).
--
--   hyperband{eta = 3, min_budget = 1, max_budget = 81}

local describe = require "maggy.describe"
local maggy = require "maggy"
local budgets = require "maggy.optimizers.budgets"

local Hyperband = {}
local objects = { __index = Hyperband } -- their metatable: not Hyperband itself (sandbox.lua)

local OPTIONS = { "eta", "min_budget", "max_budget", "iterations", "brackets", "sampler" }
local MAX_DRAWS = 100 -- draws of a new configuration before a rung is left short
local EPS = 1e-9      -- relative slack for powers of eta computed in floating point

local floor, ceil = math.floor, math.ceil

local is_finite, is_integer = budgets.is_finite, budgets.is_integer

-- nil, or a message naming the first bad option.
local function check(opts)
  local err = budgets.check(opts, OPTIONS)
  if err then return err end
  local iterations = opts.iterations or 1
  if not is_integer(iterations) or iterations < 1 then
    return "iterations must be a positive integer, got " .. describe(iterations)
  end
  if opts.brackets ~= nil and (not is_integer(opts.brackets) or opts.brackets < 1) then
    return "brackets must be a positive integer, got " .. describe(opts.brackets)
  end
  return nil
end

---------------------------------------------------------------------------
-- The brackets
---------------------------------------------------------------------------

-- floor(log_eta(ratio)), without the rounding errors of math.log.
local function top_bracket(eta, ratio)
  local s = 0
  while eta ^ (s + 1) <= ratio * (1 + EPS) do s = s + 1 end
  return s
end

local function bracket(s, s_max, eta, lo, hi, integral)
  local n = ceil((s_max + 1) * eta ^ s / (s + 1) * (1 - EPS))
  local rungs = {}
  for i = 0, s do
    local budget = hi / eta ^ (s - i)
    if integral then budget = floor(budget + 0.5) end
    rungs[i + 1] = { n = floor(n / eta ^ i * (1 + EPS)), budget = math.max(lo, budget) }
  end
  return rungs
end

-- The brackets, s_max first; each a list of rungs {n = ..., budget = ...}.
function Hyperband.brackets(eta, min_budget, max_budget)
  local err = check({ eta = eta, min_budget = min_budget, max_budget = max_budget })
  if err then error("optimizers.hyperband: " .. err, 2) end
  local integral = is_integer(eta) and is_integer(min_budget) and is_integer(max_budget)
  local s_max = top_bracket(eta, max_budget / min_budget)
  local out = {}
  for s = s_max, 0, -1 do
    out[#out + 1] = bracket(s, s_max, eta, min_budget, max_budget, integral)
  end
  return out
end

---------------------------------------------------------------------------
-- An instance
---------------------------------------------------------------------------

-- The instance, or nil and a message; `name` ("hyperband", "bohb") prefixes
-- the message and names the instance.
function Hyperband.build(opts, name)
  opts = opts or {}
  local err = check(opts)
  if err then return nil, string.format("optimizers.%s: %s", name, err) end
  local eta = opts.eta or 3
  local plan = {}
  for _ = 1, opts.iterations or 1 do
    for i, b in ipairs(Hyperband.brackets(eta, opts.min_budget or 1, opts.max_budget or 81)) do
      if i <= (opts.brackets or math.huge) then plan[#plan + 1] = b end
    end
  end
  return setmetatable({
    name = name, eta = eta, plan = plan, sampler = opts.sampler or budgets.random_sampler,
    bracket_no = 0,  -- index in plan of the running bracket
    rung = nil,      -- the running rung (see start_bracket)
    results = {},    -- key (params and budget) -> score of an ended trial
    handed = {},     -- key -> true once suggested
  }, objects)
end

function Hyperband.new(opts)
  local self, err = Hyperband.build(opts, "hyperband")
  if not self then error(err, 2) end
  return self
end

-- The number of trials of the whole run.
function Hyperband:count()
  local n = 0
  for _, b in ipairs(self.plan) do
    for _, rung in ipairs(b) do n = n + rung.n end
  end
  return n
end

local space_params, key_of = budgets.space_params, budgets.key

function Hyperband:observe(ctx, trial)
  local budget = trial.params.budget
  if budget == nil then return end
  self.results[key_of(ctx.space, trial.params, budget)] = budgets.trial_score(ctx, trial)
end

-- A rung: the configurations (slots) to run at one budget of a bracket.
--   planned   the plan's n for this rung
--   n         how many slots it will have (fewer when a space runs short)
--   slots     {params, key}, in the order they were drawn or ranked
--   next      the first slot not handed out yet
local function new_rung(bracket, index, slots)
  local plan = bracket[index]
  return {
    bracket = bracket, index = index, budget = plan.budget,
    planned = plan.n, n = slots and #slots or plan.n, slots = slots or {}, next = 1,
  }
end

function Hyperband:start_bracket(ctx)
  self.bracket_no = self.bracket_no + 1
  local b = self.plan[self.bracket_no]
  if not b then return nil end
  ctx:log("%s: bracket %d of %d: %d configurations from budget %.17g to %.17g", self.name,
    self.bracket_no, #self.plan, b[1].n, b[1].budget, b[#b].budget)
  return new_rung(b, 1, nil)
end

-- A new configuration that has not run at `budget`, or nil after MAX_DRAWS.
function Hyperband:draw(ctx, budget)
  for _ = 1, MAX_DRAWS do
    local params = self.sampler(ctx, budget)
    if type(params) ~= "table" then
      error(string.format("optimizers.%s: the sampler must return a params table, got %s", self.name, type(params)))
    end
    params = space_params(ctx.space, params)
    local key = key_of(ctx.space, params, budget)
    if not self.handed[key] and self.results[key] == nil then return { params = params, key = key } end
  end
  return nil
end

-- The next suggestion of `rung`, or nil when all of it is handed out.
-- Bottom rungs draw their configurations as they go, so that a model-based
-- sampler sees every result that arrived meanwhile.
function Hyperband:hand_out(ctx, rung)
  if rung.index == 1 and #rung.slots < rung.n then
    local slot = self:draw(ctx, rung.budget)
    if slot then
      rung.slots[#rung.slots + 1] = slot
    else
      ctx:log("%s: only %d distinct configurations for budget %.17g", self.name, #rung.slots, rung.budget)
      rung.n = #rung.slots
    end
  end
  while rung.next <= #rung.slots do
    local slot = rung.slots[rung.next]
    rung.next = rung.next + 1
    if self.results[slot.key] == nil then -- else it ran in an earlier bracket
      self.handed[slot.key] = true
      local params = space_params(ctx.space, slot.params)
      params.budget = rung.budget
      return params
    end
  end
  return nil
end

function Hyperband:complete(rung)
  for _, slot in ipairs(rung.slots) do
    if self.results[slot.key] == nil then return false end
  end
  return true
end

-- The slots of `rung`, best first; ties keep the slot order.
function Hyperband:ranked(rung)
  local order = {}
  for i, slot in ipairs(rung.slots) do
    order[i] = { slot = slot, score = self.results[slot.key], at = i }
  end
  table.sort(order, function(a, b)
    if a.score ~= b.score then return a.score < b.score end
    return a.at < b.at
  end)
  return order
end

-- The rung after `rung`: its best configurations at the next budget, or the
-- first rung of the next bracket, or nil at the end.
function Hyperband:promote(ctx, rung)
  local up = rung.bracket[rung.index + 1]
  if not up or #rung.slots == 0 then return self:start_bracket(ctx) end
  local keep = up.n
  if #rung.slots < rung.planned then
    keep = math.min(up.n, math.max(1, floor(#rung.slots / self.eta * (1 + EPS))))
  end
  local slots = {}
  for i, r in ipairs(self:ranked(rung)) do
    if i > keep then break end
    slots[i] = { params = r.slot.params, key = key_of(ctx.space, r.slot.params, up.budget) }
  end
  return new_rung(rung.bracket, rung.index + 1, slots)
end

function Hyperband:suggest(ctx)
  if self.bracket_no == 0 then self.rung = self:start_bracket(ctx) end
  while self.rung do
    local params = self:hand_out(ctx, self.rung)
    if params then return params end
    if not self:complete(self.rung) then return maggy.WAIT end
    self.rung = self:promote(ctx, self.rung)
  end
  return nil
end

return Hyperband
