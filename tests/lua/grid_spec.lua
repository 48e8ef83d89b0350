local maggy = require "maggy"
local Ctx = require "maggy.ctx"
local rng = require "maggy.rng"

local function ctx_for(space)
  return Ctx.new({ space = maggy.searchspace(space), rng = rng.new(1), direction = "max" })
end

describe("optimizers.grid", function()
  it("enumerates the whole grid exactly once, then nil", function()
    local ctx = ctx_for{ lr = maggy.double(0.1, 0.3), act = maggy.categorical{ "relu", "tanh" }, k = maggy.integer(1, 2) }
    local opt = maggy.optimizers.grid{ points = 3 }
    opt:initialize(ctx)
    local seen, n = {}, 0
    while true do
      local p = opt:suggest(ctx)
      if p == nil then break end
      assert.is_true(ctx.space:validate(p))
      local key = ctx.space:key(p)
      assert.is_nil(seen[key])
      seen[key], n = true, n + 1
    end
    assert.are.equal(3 * 2 * 2, n)
    assert.are.equal(n, opt:count(ctx))
    assert.is_nil(opt:suggest(ctx))
  end)

  it("starts in a deterministic order, without initialize", function()
    local ctx = ctx_for{ b = maggy.integer(1, 2), a = maggy.categorical{ "x", "y" } }
    local opt = maggy.optimizers.grid{}
    assert.are.same({ a = "x", b = 1 }, opt:suggest(ctx))
    assert.are.same({ a = "x", b = 2 }, opt:suggest(ctx))
    assert.are.same({ a = "y", b = 1 }, opt:suggest(ctx))
  end)

  it("defaults to 5 points and checks its option", function()
    local ctx = ctx_for{ x = maggy.double(0, 1) }
    assert.are.equal(5, maggy.optimizers.grid{}:count(ctx))
    assert.has_error(function() maggy.optimizers.grid{ points = 0 } end)
    assert.has_error(function() maggy.optimizers.grid{ points = 2.5 } end)
  end)
end)
