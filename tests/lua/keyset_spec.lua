local bit = require "bit"
local keyset = require "maggy.keyset"

describe("maggy.keyset", function()
  local function trial(key) return { key = key } end
  local function key_of(t) return t.key end

  it("knows the keys added, and no other", function()
    local set = keyset.new(key_of)
    for i = 1, 1000 do set:add("x=" .. i, trial("x=" .. i)) end
    for i = 1, 1000 do assert.is_true(set:has("x=" .. i)) end
    assert.is_false(set:has("x=0"))
    assert.is_false(set:has("x=1001"))
    assert.is_false(set:has(""))
  end)

  it("keeps no key string for a hash seen once", function()
    local set = keyset.new(key_of)
    set:add("lr=0.1", trial("lr=0.1"))
    assert.is_nil(next(set.clashes))
    for h, owner in pairs(set.owners) do
      assert.equals("number", type(h))
      assert.equals("lr=0.1", owner.key)
    end
  end)

  it("tells keys apart whose hashes collide", function()
    local set = keyset.new(key_of, nil, function() return 7 end)
    set:add("a", trial("a"))
    set:add("b", trial("b"))
    set:add("b", trial("b")) -- the same key again changes nothing
    assert.is_true(set:has("a"))
    assert.is_true(set:has("b"))
    assert.is_false(set:has("c"))
    assert.same({ b = true }, set.clashes)
  end)

  it("raises through `changed` when an owner's key changed", function()
    local t = trial("lr=0.1")
    local set = keyset.new(key_of, function(owner) error("changed: " .. owner.key, 0) end)
    set:add("lr=0.1", t)
    t.key = "lr=0.2"
    local ok, err = pcall(set.has, set, "lr=0.1")
    assert.is_false(ok)
    assert.equals("changed: lr=0.2", err)
    local plain = keyset.new(key_of) -- without `changed`: an error all the same
    local u = trial("lr=0.3")
    plain:add("lr=0.3", u)
    u.key = "lr=0.4"
    assert.has_error(function() plain:add("lr=0.3", trial("lr=0.3")) end,
      "maggy.keyset: the key of an entry changed")
  end)

  it("hashes as FNV-1a, in 32 bits", function()
    -- reference values of FNV-1a 32 (as signed 32-bit integers)
    assert.equals(bit.tobit(0x811c9dc5), keyset.hash(""))
    assert.equals(bit.tobit(0xe40c292c), keyset.hash("a"))
    assert.equals(bit.tobit(0xbf9cf968), keyset.hash("foobar"))
  end)
end)
