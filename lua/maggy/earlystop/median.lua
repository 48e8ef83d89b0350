-- The median stopping rule: stop a running trial whose best value so far is
-- worse than the median of what finished trials had reached at the same step.
--
-- For a running trial whose latest step s is at least `grace`:
--   best     = its best value over its points with step <= s
--              (max for direction "max", min for "min");
--   averages = for every FINISHED trial that reported a point at step >= s,
--              the average of its values over steps <= s;
--   stop it when there are at least `min_trials` averages and best is worse
--   than their median.
--
-- Parameters:
--   grace       never judge a trial before this step (default 0)
--   min_trials  averages needed before judging (default: the experiment's es_min)
--
-- Paper: Golovin et al., "Google Vizier: A Service for Black-Box Optimization",
-- KDD 2017, section 3.2.1 (automated early stopping); used by Maggy with
-- es_min = 4 (Meister et al., "Maggy: Scalable Asynchronous Parallel
-- Hyperparameter Search", DistributedML 2020).

local Median = {}
Median.__index = Median

local function check_count(what, v, lowest)
  if v ~= nil and (type(v) ~= "number" or v ~= math.floor(v) or v < lowest) then
    error(string.format("earlystop.median: %s must be an integer >= %d, got %s", what, lowest, tostring(v)), 3)
  end
end

function Median.new(opts)
  opts = opts or {}
  check_count("grace", opts.grace, 0)
  check_count("min_trials", opts.min_trials, 1)
  return setmetatable({ name = "median", grace = opts.grace or 0, min_trials = opts.min_trials }, Median)
end

-- The average of a trial's values over its steps <= s, or nil if it has none.
local function running_average(trial, s)
  local sum, n = 0, 0
  for i, step in ipairs(trial.steps) do
    if step > s then break end
    sum, n = sum + trial.values[i], n + 1
  end
  if n == 0 then return nil end
  return sum / n
end

local function median(list)
  table.sort(list)
  local n = #list
  if n % 2 == 1 then return list[(n + 1) / 2] end
  return (list[n / 2] + list[n / 2 + 1]) / 2
end

-- The running averages at step s of the finished trials that got that far.
local function averages_at(finished, s)
  local out = {}
  for _, t in ipairs(finished) do
    local last = t:last()
    local avg = last ~= nil and last >= s and running_average(t, s)
    if t.state == "FINISHED" and avg and avg == avg then out[#out + 1] = avg end
  end
  return out
end

function Median:should_stop(ctx, trial, finished)
  local s = trial:last()
  if s == nil or s < self.grace then return false end
  local averages = averages_at(finished, s)
  if #averages < (self.min_trials or ctx.es_min) then return false end
  local best = trial:best(ctx.direction)
  return ctx:better(median(averages), best)
end

-- The ids of the running trials to stop.
function Median:check(ctx, running, finished)
  local stop = {}
  for _, trial in ipairs(running) do
    if self:should_stop(ctx, trial, finished) then stop[#stop + 1] = trial.id end
  end
  return stop
end

return Median
