local rng = require "maggy.rng"

local function draws(r, n)
  local out = {}
  for i = 1, n do out[i] = r:random() end
  return out
end

describe("maggy.rng", function()
  it("matches the xoshiro128** reference outputs for state {1, 2, 3, 4}", function()
    local r = rng.from_state(1, 2, 3, 4)
    local want = { 11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849 }
    for i = 1, #want do assert.are.equal(want[i], r:next_u32()) end
  end)

  it("gives the same sequence for the same seed", function()
    assert.are.same(draws(rng.new(42), 50), draws(rng.new(42), 50))
  end)

  it("gives different sequences for different seeds, large ones included", function()
    assert.are_not.same(draws(rng.new(1), 5), draws(rng.new(2), 5))
    assert.are_not.same(draws(rng.new(2 ^ 40), 5), draws(rng.new(2 ^ 40 + 1), 5))
    assert.are_not.same(draws(rng.new(0), 5), draws(rng.new(-1), 5))
  end)

  it("refuses math.random's bounds instead of ignoring them", function()
    local ok, err = pcall(rng.new(1).random, rng.new(1), 1, 10)
    assert.is_false(ok)
    assert.matches("rng:random() takes no bounds and gives a number in [0, 1): use rng:randint(a, b)", err, 1, true)
  end)

  it("pins the first draws of seed 42, so a change of stream is noticed", function()
    local r = rng.new(42)
    assert.are.equal("0.60739407507614", string.format("%.14g", r:random()))
  end)

  it("keeps random() in [0, 1) and uniform() in [a, b)", function()
    local r = rng.new(3)
    for _ = 1, 10000 do
      local x = r:random()
      assert.is_true(x >= 0 and x < 1)
      local y = r:uniform(-2, 5)
      assert.is_true(y >= -2 and y < 5)
    end
  end)

  it("uses more than 32 bits of resolution", function()
    local r = rng.new(5)
    local fine = false
    for _ = 1, 100 do
      local x = r:random() * 2 ^ 32
      if x ~= math.floor(x) then fine = true end
    end
    assert.is_true(fine)
  end)

  it("draws every integer of randint's inclusive range and nothing else", function()
    local r, seen = rng.new(9), {}
    for _ = 1, 2000 do
      local v = r:randint(-2, 3)
      assert.is_true(v == math.floor(v) and v >= -2 and v <= 3)
      seen[v] = true
    end
    for v = -2, 3 do assert.is_true(seen[v]) end
  end)

  it("draws normals with about the right mean and deviation", function()
    local r, n, sum, sq = rng.new(11), 20000, 0, 0
    for _ = 1, n do
      local x = r:normal(10, 2)
      sum, sq = sum + x, sq + x * x
    end
    local mean = sum / n
    assert.is_true(math.abs(mean - 10) < 0.1)
    assert.is_true(math.abs(math.sqrt(sq / n - mean * mean) - 2) < 0.1)
  end)

  it("chooses from and shuffles lists", function()
    local r = rng.new(4)
    local list = { "a", "b", "c", "d", "e" }
    local pick = r:choice(list)
    assert.is_truthy(("abcde"):find(pick, 1, true))
    local shuffled = r:shuffle({ 1, 2, 3, 4, 5, 6, 7, 8 })
    table.sort(shuffled)
    assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8 }, shuffled)
    assert.has_error(function() r:choice({}) end)
  end)

  it("forks deterministic, independent streams without advancing the parent", function()
    local a, b = rng.new(8), rng.new(8)
    local fa, fb = a:fork("optimizer"), b:fork("optimizer")
    assert.are.same(draws(fa, 10), draws(fb, 10))
    assert.are.same(draws(a, 10), draws(rng.new(8), 10))
    assert.are_not.same(draws(rng.new(8):fork("optimizer"), 5), draws(rng.new(8):fork("earlystop"), 5))
    assert.are_not.same(draws(rng.new(8):fork("optimizer"), 5), draws(rng.new(8), 5))
  end)

  it("rejects seeds that are not integers", function()
    assert.has_error(function() rng.new(1.5) end)
    assert.has_error(function() rng.new("7") end)
  end)
end)
