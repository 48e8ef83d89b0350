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

local M = {}

local Trial = {}
Trial.__index = Trial

M.FINAL = { FINISHED = true, EARLY_STOPPED = true, FAILED = true }

function M.new(id, seq, params)
  return setmetatable({
    id = id, seq = seq, params = params, state = "PENDING",
    value = nil, attempt = 0, steps = {}, values = {},
  }, Trial)
end

function M.is_trial(x)
  return getmetatable(x) == Trial
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

function Trial:best(direction)
  local best, at
  for i, v in ipairs(self.values) do
    if improves(direction, v, best) then best, at = v, self.steps[i] end
  end
  return best, at
end

function Trial:is_done()
  return M.FINAL[self.state] == true
end

-- Inserts a point keeping steps sorted; a repeated step overwrites its value.
function Trial:add_point(step, value)
  local steps, values = self.steps, self.values
  local i = #steps
  while i >= 1 and steps[i] > step do i = i - 1 end
  if i >= 1 and steps[i] == step then
    values[i] = value
    return
  end
  table.insert(steps, i + 1, step)
  table.insert(values, i + 1, value)
end

function Trial:clear_history()
  self.steps, self.values = {}, {}
end

return M
