-- No early stopping: every trial runs to its end.
--
-- Parameters: none.
--
-- Paper: none. The smallest rule that meets the contract.

local None = {}
local objects = { __index = None } -- their metatable: not None itself (sandbox.lua)

function None.new()
  return setmetatable({ name = "none" }, objects)
end

-- The ids of the running trials to stop: none.
function None:check(ctx, running, finished)
  return {}
end

return None
