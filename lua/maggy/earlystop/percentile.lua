-- The percentile stopping rule: stop a running trial whose best value so far
-- is not among the top `percentile` percent of what finished trials had
-- reached, on average, at the same step. `median` is this rule at 50.
--
-- For a running trial whose latest step s is at least `grace`:
--   best     = its best value over its points with step <= s
--              (max for direction "max", min for "min");
--   averages = for every FINISHED trial that reported a point at step >= s,
--              the average of its values over steps <= s;
--   stop it when there are at least `min_trials` averages and best is worse
--   than the averages' threshold: the value that `percentile` percent of
--   them reach or beat (interpolated between ranks).
--
-- Parameters:
--   percentile  the percentage of trials to keep, in (0, 100] (default 50;
--               25 keeps only trials as good as the best quarter)
--   grace       never judge a trial before this step (default 0). Learning
--               curves cross early: judged at step 1, slow starters that
--               end best are stopped. A few steps of grace keep them.
--   min_trials  averages needed before judging (default: the experiment's
--               es_min)
--
-- Papers: Golovin et al., "Google Vizier: A Service for Black-Box
-- Optimization", KDD 2017, section 3.2.1 (the median rule on running
-- averages); the percentile generalization as in Optuna's PercentilePruner
-- (Akiba et al., KDD 2019).

local describe = require "maggy.describe"
local options = require "maggy.options"
local Quantile = require "maggy.quantile"
local Percentile = {}
local objects = { __index = Percentile } -- their metatable: not Percentile itself (sandbox.lua)

local function check_count(who, what, v, lowest)
  if v ~= nil and (type(v) ~= "number" or v ~= math.floor(v) or v < lowest) then
    error(string.format("earlystop.%s: %s must be an integer >= %d, got %s", who, what, lowest, describe(v)), 4)
  end
end

-- The checked instance; `who` names the rule in errors and in the config.
function Percentile.build(who, opts)
  opts = opts or {}
  if type(opts) ~= "table" then
    error(string.format("earlystop.%s: expected an options table, got %s", who, type(opts)), 3)
  end
  local bad = options.unknown(opts, { "percentile", "grace", "min_trials" })
  if bad then error(string.format("earlystop.%s: %s", who, bad), 3) end
  local p = opts.percentile or 50
  if type(p) ~= "number" or not (p > 0 and p <= 100) then
    error(string.format("earlystop.%s: percentile must be a number in (0, 100], got %s", who, describe(p)), 3)
  end
  check_count(who, "grace", opts.grace, 0)
  check_count(who, "min_trials", opts.min_trials, 1)
  return setmetatable({
    name = who, percentile = p, grace = opts.grace or 0, min_trials = opts.min_trials,
    _prefix = setmetatable({}, { __mode = "k" }),
    _steps = {}, _list = nil, _seen = 0, _last = nil, _best = {}, _kept = 0, _checks = 0,
  }, objects)
end

function Percentile.new(opts)
  return Percentile.build("percentile", opts)
end

-- Running sums of a finished trial's values, computed once: its history
-- does not change any more.
function Percentile:prefix_sums(trial)
  local sums = self._prefix[trial]
  if sums and sums.n == #trial.values then return sums end
  sums = { n = #trial.values }
  local total = 0
  for i, v in ipairs(trial.values) do
    total = total + v
    sums[i] = total
  end
  self._prefix[trial] = sums
  return sums
end

-- The number of a trial's points with step <= s (steps are ascending).
local function points_upto(steps, s)
  local lo, hi = 0, #steps
  while lo < hi do
    local mid = math.floor((lo + hi + 1) / 2)
    if steps[mid] <= s then lo = mid else hi = mid - 1 end
  end
  return lo
end

-- The running averages at step s of the finished trials that got that far.
function Percentile:averages_at(finished, s)
  local out = {}
  for _, t in ipairs(finished) do
    local last = t:last()
    if t.state == "FINISHED" and last ~= nil and last >= s then
      local k = points_upto(t.steps, s)
      local avg = k > 0 and self:prefix_sums(t)[k] / k
      if avg and avg == avg then out[#out + 1] = avg end
    end
  end
  return out
end

-- The averages at step s of the finished trials, kept per step as trials
-- finish (maggy.quantile), built the first time a running trial reaches s.
function Percentile:quantile_at(ctx, finished, s)
  local q = self._steps[s]
  if q == nil then
    q = Quantile.new(self.percentile, ctx.direction)
    for _, avg in ipairs(self:averages_at(finished, s)) do q:insert(avg) end
    self._steps[s] = q
  end
  return q
end

-- Takes in the trials that finished since the last check. `finished` is
-- the runtime's list, which only grows; any other list (a test's, a
-- replaced one) starts the per-step sets over.
function Percentile:catch_up(ctx, finished)
  local seen = self._seen
  if finished ~= self._list or #finished < seen or (seen > 0 and finished[seen] ~= self._last) then
    self._list, self._steps, self._best, self._kept, seen = finished, {}, {}, 0, #finished
  else
    for i = seen + 1, #finished do
      local news = self:averages_of(finished[i])
      for s, q in pairs(self._steps) do
        if news[s] then q:insert(news[s]) end
      end
    end
    seen = #finished
  end
  self._seen, self._last = seen, finished[seen]
end

-- A newly finished trial's running averages at the steps being tracked.
function Percentile:averages_of(trial)
  local out = {}
  for s in pairs(self._steps) do
    local avg = self:averages_at({ trial }, s)[1]
    if avg then out[s] = avg end
  end
  return out
end

-- The threshold at step s, or nil with too few averages.
function Percentile:threshold_at(ctx, finished, s)
  local q = self:quantile_at(ctx, finished, s)
  if q:count() < (self.min_trials or ctx.es_min) then return nil end
  return q:value()
end

-- A running trial's best value so far, kept between checks and brought up
-- to date with its new points only (a trial's history is only appended to
-- while it runs; new tables mean it changed otherwise, see maggy.trial).
function Percentile:best_of(ctx, trial)
  local known = self._best[trial]
  if known == nil or known.values ~= trial.values then
    if known == nil then self._kept = self._kept + 1 end
    known = { values = trial.values, n = 0 }
    self._best[trial] = known
  end
  known.check = self._checks
  local n = #known.values
  if n > known.n then
    known.best = trial:best(ctx.direction, known.n + 1, known.best)
    known.n = n
  end
  return known.best
end

function Percentile:should_stop(ctx, trial, finished)
  local s = trial:last()
  if s == nil or s < self.grace then return false end
  local limit = self:threshold_at(ctx, finished, s)
  return limit ~= nil and ctx:better(limit, self:best_of(ctx, trial))
end

-- The ids of the running trials to stop.
function Percentile:check(ctx, running, finished)
  self:catch_up(ctx, finished)
  self._checks = self._checks + 1
  local stop = {}
  for _, trial in ipairs(running) do
    if self:should_stop(ctx, trial, finished) then stop[#stop + 1] = trial.id end
  end
  self:forget_gone(#running)
  return stop
end

-- Drops the best values kept for trials this check did not look at (they
-- finished, stopped or failed), once those could outnumber the running
-- ones: the sweep's cost is spread over the checks that led to it.
function Percentile:forget_gone(running)
  if self._kept <= 2 * running + 64 then return end
  for trial, known in pairs(self._best) do
    if known.check ~= self._checks then
      self._best[trial] = nil
      self._kept = self._kept - 1
    end
  end
end

return Percentile
