-- The `ctx` handed to every strategy call: what a strategy may know, and
-- nothing that does I/O.
--
--   ctx.space        the search space (maggy.searchspace)
--   ctx.rng          a seeded generator (maggy.rng); the optimizer and the
--                    early-stop rule each get their own stream
--   ctx.direction    "max" or "min"
--   ctx.metric       the metric key, e.g. "accuracy"
--   ctx.num_trials   how many trials the experiment runs
--   ctx.es_min       finished trials needed before early stopping starts
--   ctx:trials(f)    trials in creation order: all (f nil), one state
--                    ("PENDING", "RUNNING", ...) or "done" (the final states)
--   ctx:trial(id)    one trial by id, or nil
--   ctx:better(a, b) a strictly better than b (nil and NaN are never better)
--   ctx:best()       the best FINISHED or EARLY_STOPPED trial with a value
--   ctx:log(fmt,...) a line for the engine to print and store
--
-- The runtime owns one base ctx holding the trial mirror; strategies get views
-- of it that differ only in `rng`. Functions on the module (not methods) are
-- for the runtime only.

local Trial = require "maggy.trial"

local M = {}

local Ctx = {}
local objects = { __index = Ctx } -- their metatable: not Ctx itself (sandbox.lua)

local MAX_LINES = 1000    -- per reply; the rest is counted and reported
local MAX_LINE_LEN = 8192

local function usable(x)
  return type(x) == "number" and x == x
end

local STATES = { PENDING = true, RUNNING = true, FINISHED = true, EARLY_STOPPED = true, FAILED = true }

-- fields: space, direction, metric, num_trials, es_min, rng.
function M.new(fields)
  local ctx = setmetatable({}, objects)
  for k, v in pairs(fields) do ctx[k] = v end
  ctx._trials, ctx._by_id = {}, {}
  ctx._running, ctx._finished = {}, {}
  ctx._state = {} -- trial -> its state as the engine gave it (M.state_of)
  ctx._logs = { lines = {}, dropped = 0 }
  return ctx
end

-- A view of `base` with its own random stream.
function M.view(base, rng)
  return setmetatable({ rng = rng }, { __index = base })
end

-- Where `trial` is, or would go, in the running list (ordered by seq).
local function running_slot(running, trial)
  local lo, hi = 1, #running + 1
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if running[mid].seq < trial.seq then lo = mid + 1 else hi = mid end
  end
  return lo
end

local function leave_running(running, trial)
  local i = running_slot(running, trial)
  if running[i] ~= trial then -- someone reordered the list: look for it
    i = nil
    for k, t in ipairs(running) do if t == trial then i = k end end
  end
  if i then table.remove(running, i) end
end

local function enter(ctx, trial, state)
  ctx._state[trial] = state
  if state == "RUNNING" then
    table.insert(ctx._running, running_slot(ctx._running, trial), trial)
  elseif state == "FINISHED" then
    ctx._finished[#ctx._finished + 1] = trial
  end
end

function M.add_trial(ctx, trial)
  ctx._trials[#ctx._trials + 1] = trial
  ctx._by_id[trial.id] = trial
  enter(ctx, trial, trial.state)
end

-- The id the engine gave a trial added under a provisional one.
function M.rename(ctx, trial, id)
  ctx._by_id[trial.id] = nil
  trial.id = id
  ctx._by_id[id] = trial
end

-- Takes out a PENDING trial the engine never created (the runtime's
-- provisional ones); it is near the end of the list.
function M.remove_pending(ctx, trial)
  for i = #ctx._trials, 1, -1 do
    if ctx._trials[i] == trial then
      table.remove(ctx._trials, i)
      break
    end
  end
  ctx._by_id[trial.id] = nil
  ctx._state[trial] = nil
end

-- The state the engine gave a trial. A strategy may have written another
-- into trial.state: that changes what strategies see, not what the runtime
-- goes by.
function M.state_of(ctx, trial)
  return ctx._state[trial]
end

-- The runtime moves a trial to `state` through here, which keeps, without
-- scanning all trials, the RUNNING trials in creation order and the
-- FINISHED ones in the order they finished (a trial never leaves a final
-- state).
function M.set_state(ctx, trial, state)
  local was = ctx._state[trial]
  trial.state = state
  if was == state then return end
  if was == "RUNNING" then leave_running(ctx._running, trial) end
  enter(ctx, trial, state)
end

-- The lists early-stop rules are given (the runtime's own: read only).
function M.running(ctx)
  return ctx._running
end

function M.finished(ctx)
  return ctx._finished
end

-- Appends one line (split on newlines) to the log buffer.
function M.log_line(ctx, text)
  local logs = ctx._logs
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    if #logs.lines >= MAX_LINES then
      logs.dropped = logs.dropped + 1
    else
      logs.lines[#logs.lines + 1] = line:sub(1, MAX_LINE_LEN)
    end
  end
end

-- No lines: shared by every job that logged nothing (most of them).
local NO_LINES = setmetatable({}, {
  __newindex = function() error("the list of no log lines is read-only", 2) end,
  __metatable = false,
})

-- The lines logged since the last call, and resets the buffer.
function M.take_logs(ctx)
  local logs = ctx._logs
  local lines = logs.lines
  if #lines == 0 and logs.dropped == 0 then return NO_LINES end
  if logs.dropped > 0 then
    lines[#lines + 1] = string.format("(%d more log lines dropped)", logs.dropped)
  end
  logs.lines, logs.dropped = {}, 0
  return lines
end

-- ctx.trials("done") for ctx:trials("done"): the mistake named, at the
-- caller's line, before it fails deeper with a message about something else.
local function called_with_colon(self, method)
  if type(self) ~= "table" then
    error(string.format("ctx.%s(...) needs a colon: ctx:%s(...)", method, method), 3)
  end
end

function Ctx:trials(filter)
  called_with_colon(self, "trials")
  local want = filter
  if want ~= nil and want ~= "done" and not STATES[want] then
    error(string.format("ctx:trials: unknown filter '%s' (nil, \"done\" or a state name)", tostring(want)), 2)
  end
  local out = {}
  for _, t in ipairs(self._trials) do
    if want == nil or t.state == want or (want == "done" and Trial.FINAL[t.state]) then
      out[#out + 1] = t
    end
  end
  return out
end

function Ctx:trial(id)
  called_with_colon(self, "trial")
  return self._by_id[id]
end

function Ctx:better(a, b)
  called_with_colon(self, "better")
  if not usable(a) then return false end
  if not usable(b) then return true end
  if self.direction == "min" then return a < b end
  return a > b
end

function Ctx:best()
  called_with_colon(self, "best")
  local best
  for _, t in ipairs(self._trials) do
    local final = t.state == "FINISHED" or t.state == "EARLY_STOPPED"
    if final and usable(t.value) and (best == nil or self:better(t.value, best.value)) then
      best = t
    end
  end
  return best
end

function Ctx:log(fmt, ...)
  called_with_colon(self, "log")
  local text = tostring(fmt)
  if select("#", ...) > 0 then
    local ok, res = pcall(string.format, fmt, ...)
    if not ok then error("ctx:log: " .. res, 2) end
    text = res
  end
  M.log_line(self, text)
end

return M
