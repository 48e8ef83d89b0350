local maggy = require "maggy"
local Ctx = require "maggy.ctx"
local rng = require "maggy.rng"

local function ctx_for(seed)
  local space = maggy.searchspace{
    lr = maggy.double(1e-5, 1, { log = true }), k = maggy.integer(1, 9), act = maggy.categorical{ "a", "b" },
  }
  return Ctx.new({ space = space, rng = rng.new(seed), direction = "max" })
end

local function run(seed, n)
  local ctx, opt = ctx_for(seed), maggy.optimizers.random{}
  local out = {}
  for i = 1, n do out[i] = opt:suggest(ctx) end
  return out, ctx
end

describe("optimizers.random", function()
  it("suggests valid params", function()
    local list, ctx = run(1, 500)
    for _, p in ipairs(list) do assert.is_true(ctx.space:validate(p)) end
  end)

  it("is deterministic for a seed and differs between seeds", function()
    assert.are.same(run(7, 20), run(7, 20))
    assert.are_not.same(run(7, 20), run(8, 20))
  end)

  it("returns a fresh instance per call, named random", function()
    local a, b = maggy.optimizers.random{}, maggy.optimizers.random{}
    assert.are_not.equal(a, b)
    assert.are.equal("random", a.name)
    assert.is_nil(a.count)
  end)
end)
