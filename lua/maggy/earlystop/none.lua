-- No early stopping: every trial runs to its end.
--
-- Parameters: none.
--
-- Paper: none. The smallest rule that meets the contract.

local None = {}
None.__index = None

function None.new()
  return setmetatable({ name = "none" }, None)
end

-- The ids of the running trials to stop: none.
function None:check(ctx, running, finished)
  return {}
end

return None
