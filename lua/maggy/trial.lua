-- One trial as strategies see it (fields are read-only for strategies):
--
--   trial.id       "00000000000000ab" (16 hex digits, given by the engine)
--   trial.seq      creation order, 1, 2, ...
--   trial.params   {name = value, ...}
--   trial.state    "PENDING" | "RUNNING" | "FINISHED" | "EARLY_STOPPED" | "FAILED"
--   trial.value    the final metric, or nil
--   trial.attempt  how many times it was started (0 while never run)
--   trial.steps    metric history: steps, ascending
--   trial.values   metric history: values, values[i] was reported at steps[i]
--
-- Only the runtime changes a trial, by applying the engine's events.
--
-- A trial without points shares one empty, read-only history (M.NO_POINTS):
-- most of a trial's memory would otherwise be two empty tables.

local M = {}

local Trial = {}
local objects = { __index = Trial } -- their metatable: not Trial itself (sandbox.lua)

M.FINAL = { FINISHED = true, EARLY_STOPPED = true, FAILED = true }

M.NO_POINTS = setmetatable({}, {
  __newindex = function() error("a trial's history is read-only", 2) end,
  __metatable = false,
})
Trial.steps, Trial.values = M.NO_POINTS, M.NO_POINTS

function M.new(id, seq, params)
  return setmetatable({ id = id, seq = seq, params = params, state = "PENDING", attempt = 0 }, objects)
end

-- Whether something wrote into the shared empty history anyway (rawset and
-- table.insert get past its guard): every trial without points would see it.
function M.no_points_changed()
  return next(M.NO_POINTS) ~= nil
end

function M.is_trial(x)
  return getmetatable(x) == objects
end

-- The latest step and its value, or nil when nothing was reported yet.
function Trial:last()
  local n = #self.steps
  if n == 0 then return nil end
  return self.steps[n], self.values[n]
end

-- The best reported value and its step; direction "max" (default) or "min".
-- NaN values are ignored.
local function improves(direction, v, best)
  if v ~= v then return false end
  if best == nil then return true end
  if direction == "min" then return v < best end
  return v > best
end

-- With `first` (and a best value and step found before it), only the points
-- from position first on are looked at: what a strategy computed from the
-- history's start stays valid while the history is only appended to.
function Trial:best(direction, first, best, at)
  local values = self.values
  for i = first or 1, #values do
    local v = values[i]
    if improves(direction, v, best) then best, at = v, self.steps[i] end
  end
  return best, at
end

function Trial:is_done()
  return M.FINAL[self.state] == true
end

local function copy(list)
  local out = {}
  for i = 1, #list do out[i] = list[i] end
  return out
end

-- Inserts a point keeping steps sorted; a repeated step overwrites its value.
-- A point after the last one is appended to the history's tables; any other
-- change gives the trial new tables, so a strategy that keeps what it
-- computed from a history can tell, by the table, that it still holds.
function Trial:add_point(step, value)
  local steps, values = self.steps, self.values
  if steps == M.NO_POINTS then
    self.steps, self.values = { step }, { value }
    return
  end
  local n = #steps
  if steps[n] < step then
    steps[n + 1], values[n + 1] = step, value
    return
  end
  steps, values = copy(steps), copy(values)
  self.steps, self.values = steps, values
  local i = n
  while i >= 1 and steps[i] > step do i = i - 1 end
  if i >= 1 and steps[i] == step then
    values[i] = value
    return
  end
  table.insert(steps, i + 1, step)
  table.insert(values, i + 1, value)
end

function Trial:clear_history()
  self.steps, self.values = nil, nil
end

return M
