-- An optimizer that keeps the Lua thread busy: every suggestion takes 0.2 s
-- of CPU. Heartbeats must still be answered at once meanwhile.
local maggy = require "maggy"

local busy = {}

function busy:suggest(ctx)
  local stop = os.clock() + 0.2
  while os.clock() < stop do end
  return { x = ctx.rng:random() }
end

return maggy.experiment {
  name = "bench_busy_optimizer",
  train = "noop:noop",
  space = maggy.searchspace { x = maggy.double(0, 1) },
  optimizer = busy,
  num_trials = 100000000,
  metric = "x",
  hb_interval = 1,
  seed = 1,
}
