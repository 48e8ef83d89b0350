-- The plateau rule: stop a running trial whose best value has not improved
-- for `patience` steps. It judges each trial on its own curve, so it works
-- from the first trial on, without finished trials to compare against.
--
-- For a running trial whose latest step s is at least `grace`: stop it when
-- its best value over steps <= s - patience is not beaten by more than
-- `min_delta` by any value reported after that step.
--
-- Parameters:
--   patience    steps without improvement before stopping (default 5)
--   min_delta   the smallest change that counts as an improvement (default 0)
--   grace       never judge a trial before this step (default 0; the rule
--               cannot judge before step patience + 1 anyway)
--   min_trials  FINISHED trials needed before judging (default 0: none)
--
-- Paper: Prechelt, "Early Stopping - But When?", Neural Networks: Tricks of
-- the Trade, 1998 (stopping on a plateau of the validation curve); the
-- `patience` of Keras' EarlyStopping callback.

local describe = require "maggy.describe"
local options = require "maggy.options"
local Plateau = {}
local objects = { __index = Plateau } -- their metatable: not Plateau itself (sandbox.lua)

local function check_number(what, v, lowest, integer)
  if v == nil then return end
  if type(v) ~= "number" or v ~= v or v < lowest or (integer and v ~= math.floor(v)) then
    error(string.format("earlystop.plateau: %s must be %s >= %s, got %s", what,
      integer and "an integer" or "a number", tostring(lowest), describe(v)), 3)
  end
end

function Plateau.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then
    error("earlystop.plateau: expected an options table, got " .. type(opts), 2)
  end
  local bad = options.unknown(opts, { "patience", "min_delta", "grace", "min_trials" })
  if bad then error("earlystop.plateau: " .. bad, 2) end
  check_number("patience", opts.patience, 1, true)
  check_number("min_delta", opts.min_delta, 0, false)
  check_number("grace", opts.grace, 0, true)
  check_number("min_trials", opts.min_trials, 0, true)
  return setmetatable({
    name = "plateau", patience = opts.patience or 5, min_delta = opts.min_delta or 0,
    grace = opts.grace or 0, min_trials = opts.min_trials or 0,
  }, objects)
end

-- The trial's best value up to step `upto`, and the best after it.
local function best_before_and_after(ctx, trial, upto)
  local before, after
  for i, step in ipairs(trial.steps) do
    local v = trial.values[i]
    if v == v then
      if step <= upto then
        if before == nil or ctx:better(v, before) then before = v end
      elseif after == nil or ctx:better(v, after) then
        after = v
      end
    end
  end
  return before, after
end

function Plateau:should_stop(ctx, trial)
  local s = trial:last()
  if s == nil or s < self.grace then return false end
  local before, after = best_before_and_after(ctx, trial, s - self.patience)
  if before == nil or after == nil then return false end
  local gain = ctx.direction == "min" and before - after or after - before
  return gain <= self.min_delta
end

-- The ids of the running trials to stop.
function Plateau:check(ctx, running, finished)
  local stop = {}
  if #finished < self.min_trials then return stop end
  for _, trial in ipairs(running) do
    if self:should_stop(ctx, trial) then stop[#stop + 1] = trial.id end
  end
  return stop
end

return Plateau
