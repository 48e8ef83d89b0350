local maggy = require "maggy"
local searchspace = require "maggy.searchspace"
local rng = require "maggy.rng"

local function space_error(specs)
  local space, err = searchspace.new(specs)
  assert.is_nil(space)
  return err
end

local function mixed()
  return maggy.searchspace{
    lr = maggy.double(1e-5, 1e-1, { log = true }),
    dropout = maggy.double(0.01, 0.99),
    kernel = maggy.integer(2, 8),
    units = maggy.integer(1, 1000, { log = true }),
    bs = maggy.discrete{ 64, 16, 32 },
    act = maggy.categorical{ "relu", "tanh", true, 3 },
  }
end

describe("maggy.searchspace", function()
  describe("building", function()
    it("accepts Maggy's tuple form, type names in any case", function()
      local space = maggy.searchspace{
        kernel = { "INTEGER", { 2, 8 } }, lr = { "double", { 1e-6, 0.99 } },
        act = { "Categorical", { "relu", "tanh" } }, bs = { "DISCRETE", { 16, 32, 64 } },
        wd = { "DOUBLE", { 1e-6, 1e-2 }, { log = true } },
      }
      assert.are.same({ "act", "bs", "kernel", "lr", "wd" }, space:names())
      assert.are.equal("INTEGER", space:param("kernel").type)
      assert.are.equal("DOUBLE", space:param("lr").type)
      assert.is_true(space:param("wd").log)
      assert.are.same({ "relu", "tanh" }, space:param("act").values)
    end)

    it("keeps DISCRETE values sorted and CATEGORICAL values in order", function()
      local space = mixed()
      assert.are.same({ 16, 32, 64 }, space:param("bs").values)
      assert.are.same({ "relu", "tanh", true, 3 }, space:param("act").values)
    end)

    it("describes itself as a JSON-able list in name order", function()
      local d = maggy.searchspace{ a = { "INTEGER", { 1, 4 } }, b = { "CATEGORICAL", { "x" } } }:describe()
      assert.are.same({
        { name = "a", type = "INTEGER", low = 1, high = 4, log = false },
        { name = "b", type = "CATEGORICAL", values = { "x" } },
      }, d)
    end)
  end)

  describe("errors", function()
    it("names the parameter and both bounds when low is not below high", function()
      assert.are.equal("searchspace: parameter 'lr': lower bound 1 is not below upper bound 0.1",
        space_error{ lr = maggy.double(1, 0.1) })
      assert.matches("parameter 'k': lower bound 3 is not below upper bound 3",
        space_error{ k = { "INTEGER", { 3, 3 } } }, 1, true)
    end)

    it("rejects log scale with a lower bound at or below 0", function()
      assert.matches("parameter 'lr': log scale needs a lower bound above 0, got 0",
        space_error{ lr = maggy.double(0, 1, { log = true }) }, 1, true)
    end)

    it("rejects INTEGER bounds that are not integers", function()
      assert.matches("parameter 'k': INTEGER bounds must be integers, got 1.5 and 4",
        space_error{ k = maggy.integer(1.5, 4) }, 1, true)
    end)

    it("rejects non-numeric and infinite bounds", function()
      assert.matches("bounds must be finite numbers", space_error{ x = maggy.double("0", 1) }, 1, true)
      assert.matches("bounds must be finite numbers", space_error{ x = maggy.double(0, math.huge) }, 1, true)
      assert.matches("DOUBLE expects {low, high}, got 3 values", space_error{ x = { "DOUBLE", { 0, 1, 2 } } }, 1, true)
    end)

    it("lists the valid types for an unknown one", function()
      assert.are.equal(
        "searchspace: parameter 'lr': unknown type 'FLOAT' (valid: DOUBLE, INTEGER, DISCRETE, CATEGORICAL)",
        space_error{ lr = { "FLOAT", { 0, 1 } } })
    end)

    it("rejects empty and duplicate lists and non-numbers in DISCRETE", function()
      assert.matches("parameter 'bs': value list is empty", space_error{ bs = { "DISCRETE", {} } }, 1, true)
      assert.matches("parameter 'act': value list is empty", space_error{ act = maggy.categorical{} }, 1, true)
      assert.matches("parameter 'bs': duplicate value 32", space_error{ bs = maggy.discrete{ 16, 32, 32 } }, 1, true)
      assert.matches("parameter 'a': duplicate value 'x'", space_error{ a = maggy.categorical{ "x", "x" } }, 1, true)
      assert.matches("parameter 'bs': DISCRETE values must be finite numbers, got string 'a'",
        space_error{ bs = maggy.discrete{ 1, "a" } }, 1, true)
      assert.matches("CATEGORICAL values must be strings, numbers or booleans, got table",
        space_error{ a = maggy.categorical{ {} } }, 1, true)
    end)

    it("rejects an empty space, non-string names and names Python cannot take", function()
      assert.are.equal("searchspace: the space is empty (add at least one parameter)", space_error{})
      assert.matches("parameter names must be strings, got number 1",
        space_error{ maggy.double(0, 1) }, 1, true)
      assert.matches("parameter 'my-lr': the name must be a Python identifier",
        space_error{ ["my-lr"] = maggy.double(0, 1) }, 1, true)
      assert.matches("parameter 'reporter': the name is reserved",
        space_error{ reporter = maggy.double(0, 1) }, 1, true)
    end)

    it("rejects specs that are neither constructors nor tuples", function()
      assert.matches("parameter 'x': expected maggy.double", space_error{ x = 3 }, 1, true)
      assert.matches("parameter 'x': expected maggy.double", space_error{ x = { low = 1 } }, 1, true)
    end)

    it("raises from maggy.searchspace at the caller's line", function()
      local ok, err = pcall(function()
        local space = maggy.searchspace{ lr = maggy.double(1, 0.1) } -- this line
        return space
      end)
      assert.is_false(ok)
      assert.matches("searchspace_spec.lua:%d+: searchspace: parameter 'lr'", err)
    end)
  end)

  describe("sampling", function()
    it("respects bounds, types and members over many draws", function()
      local space, r = mixed(), rng.new(1)
      for _ = 1, 5000 do
        local p = space:sample(r)
        assert.is_true(space:validate(p))
        assert.are.equal(math.floor(p.kernel), p.kernel)
        assert.are.equal(math.floor(p.units), p.units)
      end
    end)

    it("spreads log-scale doubles evenly over the decades", function()
      local space, r = maggy.searchspace{ lr = maggy.double(1e-5, 1e-1, { log = true }) }, rng.new(2)
      local below = 0
      for _ = 1, 10000 do
        if space:sample(r).lr < 1e-3 then below = below + 1 end
      end
      assert.is_true(below > 4500 and below < 5500) -- half the decades lie below 1e-3
    end)

    it("reaches both ends of integer ranges, log scale included", function()
      local space, r = maggy.searchspace{ k = maggy.integer(2, 4), u = maggy.integer(1, 8, { log = true }) }, rng.new(3)
      local seen = { k = {}, u = {} }
      for _ = 1, 3000 do
        local p = space:sample(r)
        seen.k[p.k], seen.u[p.u] = true, true
      end
      assert.is_true(seen.k[2] and seen.k[3] and seen.k[4])
      assert.is_true(seen.u[1] and seen.u[8])
    end)

    it("is deterministic for a seed", function()
      local space = mixed()
      assert.are.same(space:sample(rng.new(5)), space:sample(rng.new(5)))
    end)
  end)

  describe("validate", function()
    local space = mixed()
    local good = { lr = 1e-3, dropout = 0.5, kernel = 3, units = 10, bs = 32, act = true }

    it("accepts a good params table", function()
      assert.is_true(space:validate(good))
    end)

    local function broken(name, value)
      local p = {}
      for k, v in pairs(good) do p[k] = v end
      p[name] = value
      local ok, err = space:validate(p)
      assert.is_nil(ok)
      return err
    end

    it("names the bad parameter and the problem", function()
      assert.are.equal("parameter 'kernel' is missing", broken("kernel", nil))
      assert.are.equal("parameter 'kernel': expected an integer, got 3.5", broken("kernel", 3.5))
      assert.are.equal("parameter 'dropout': 1.5 is outside [0.01, 0.99]", broken("dropout", 1.5))
      assert.are.equal("parameter 'bs': 33 is not one of the listed values", broken("bs", 33))
      assert.are.equal("parameter 'act': 'gelu' is not one of the listed values", broken("act", "gelu"))
      assert.are.equal("parameter 'lr': expected a finite number, got string '0.1'", broken("lr", "0.1"))
      assert.are.equal("unknown parameter 'momentum'", broken("momentum", 0.9))
      assert.are.equal("params must be a table, got nil", select(2, space:validate(nil)))
    end)
  end)

  describe("unit cube", function()
    it("round-trips params through to_unit and from_unit", function()
      local space, r = mixed(), rng.new(6)
      for _ = 1, 500 do
        local p = space:sample(r)
        local u = space:to_unit(p)
        assert.are.equal(#space:names(), #u)
        for _, x in ipairs(u) do assert.is_true(x >= 0 and x <= 1) end
        local q = space:from_unit(u)
        assert.are.equal(space:key(p), space:key(space:from_unit(space:to_unit(q))))
        for _, name in ipairs({ "kernel", "units", "bs", "act" }) do assert.are.equal(p[name], q[name]) end
        assert.is_true(math.abs(q.lr - p.lr) <= 1e-12 * p.lr)
        assert.is_true(math.abs(q.dropout - p.dropout) <= 1e-12)
      end
    end)

    it("maps the ends of the cube to the ends of the space", function()
      local space = maggy.searchspace{ a = maggy.double(1e-4, 1, { log = true }), b = maggy.categorical{ "x", "y" } }
      assert.are.same({ a = 1e-4, b = "x" }, space:from_unit({ 0, 0 }))
      assert.are.same({ a = 1, b = "y" }, space:from_unit({ 1, 1 }))
      assert.are.equal(0.5, space:to_unit({ a = 1e-2, b = "x" })[1])
    end)

    it("names what is wrong with its arguments", function()
      local space = maggy.searchspace{ a = maggy.double(0, 1), b = maggy.categorical{ "x", "y" } }
      local function err(f, ...)
        local ok, e = pcall(f, space, ...)
        assert.is_false(ok)
        return e
      end
      assert.are.equal("space:to_unit: parameter 'b' is missing", err(space.to_unit, { a = 0.5 }))
      assert.are.equal("space:to_unit: parameter 'b' = string 'z' is not in the space",
        err(space.to_unit, { a = 0.5, b = "z" }))
      assert.are.equal("space:to_unit: parameter 'a' = string '0.5' is not in the space",
        err(space.to_unit, { a = "0.5", b = "x" }))
      assert.are.equal("space:from_unit: expected 2 numbers, one per parameter in name order (a, b), got nil at 2",
        err(space.from_unit, { 0.5 }))
      assert.are.equal("space:sample: expected a random generator (ctx.rng), got nil", err(space.sample))
    end)
  end)

  describe("grid", function()
    local function collect(space, points)
      local out = {}
      for p in space:grid(points) do out[#out + 1] = p end
      return out
    end

    it("varies the first name slowest and covers every combination once", function()
      local space = maggy.searchspace{ a = maggy.categorical{ "x", "y" }, b = maggy.integer(1, 3) }
      assert.are.same({
        { a = "x", b = 1 }, { a = "x", b = 2 }, { a = "x", b = 3 },
        { a = "y", b = 1 }, { a = "y", b = 2 }, { a = "y", b = 3 },
      }, collect(space, 5))
      assert.are.equal(6, space:grid_size(5))
    end)

    it("spaces doubles evenly, or by decades on a log scale, end points exact", function()
      local space = maggy.searchspace{ d = maggy.double(0, 1), l = maggy.double(1e-3, 1, { log = true }) }
      local axes = space:grid_axes(4)
      assert.are.same({ 0, 1 / 3, 2 / 3, 1 }, axes[1])
      assert.are.equal(1e-3, axes[2][1])
      assert.is_true(math.abs(axes[2][2] - 1e-2) < 1e-15)
      assert.are.equal(1, axes[2][4])
      assert.are.equal(16, #collect(space, 4))
    end)

    it("takes evenly spaced, deduplicated integers from wide ranges", function()
      local space = maggy.searchspace{ k = maggy.integer(0, 10), s = maggy.integer(1, 3) }
      assert.are.same({ { 0, 3, 5, 8, 10 }, { 1, 2, 3 } }, space:grid_axes(5)) -- 2.5 rounds up
      local tight = maggy.searchspace{ u = maggy.integer(1, 1000, { log = true }) }
      assert.are.same({ 1, 6, 32, 178, 1000 }, tight:grid_axes(5)[1])
    end)

    it("uses every listed value and sizes the grid", function()
      local space = mixed()
      assert.are.equal(5 * 5 * 5 * 5 * 3 * 4, space:grid_size(5))
      assert.are.equal(space:grid_size(2), #collect(space, 2))
    end)

    it("rejects a bad number of points", function()
      assert.has_error(function() mixed():grid(0) end)
    end)
  end)

  describe("key", function()
    it("is canonical and tells strings from numbers", function()
      local space = maggy.searchspace{ b = maggy.categorical{ "1", 1 }, a = maggy.double(0, 1) }
      assert.are.equal('a=0.10000000000000001,b="1"', space:key({ b = "1", a = 0.1 }))
      assert.are_not.equal(space:key({ a = 0.5, b = 1 }), space:key({ a = 0.5, b = "1" }))
    end)
  end)
end)
