local sandbox = require "maggy.sandbox"

local FIXTURES = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") .. "/fixtures"

local function new_env(lines)
  return sandbox.new({
    path = FIXTURES .. "/?.lua;" .. package.path,
    print = function(line) lines[#lines + 1] = line end,
  })
end

local function run(source, lines)
  local env = new_env(lines or {})
  local chunk = assert(loadstring(source, "=probe"))
  return setfenv(chunk, env)()
end

describe("maggy.sandbox", function()
  it("leaves out io, os.execute, the loaders, debug, package, ffi and jit", function()
    local lines = {}
    local env = new_env(lines)
    for _, name in ipairs({ "io", "load", "loadstring", "loadfile", "dofile", "debug", "package", "jit", "coroutine", "module" }) do
      assert.is_nil(env[name], name)
    end
    assert.is_nil(env.os.execute)
    assert.is_nil(env.os.exit)
    assert.is_nil(env.os.remove)
    assert.is_nil(env.os.getenv)
    assert.is_function(env.os.time)
    assert.is_nil(env.string.dump)
    assert.is_false(pcall(env.require, "ffi"))
  end)

  it("keeps the allowed basics and private copies of the libraries", function()
    local env = new_env({})
    for _, name in ipairs({ "assert", "error", "ipairs", "next", "pairs", "pcall", "xpcall", "select",
      "tonumber", "tostring", "type", "unpack", "setmetatable", "getmetatable", "rawget", "rawset", "rawequal" }) do
      assert.is_function(env[name], name)
    end
    env.math.floor = nil
    assert.is_function(math.floor)
    assert.is_nil(env.getmetatable(""))
  end)

  it("gives math.random a stream of its own, as Lua 5.1 calls it, that M.seed sets", function()
    local rng = require "maggy.rng"
    local a, b = new_env({}), new_env({})
    sandbox.seed(a, rng.new(3))
    sandbox.seed(b, rng.new(3))
    math.random() -- the Lua state's own stream is not theirs
    for _ = 1, 20 do
      local u = a.math.random()
      assert.is_true(u >= 0 and u < 1)
      assert.are.equal(u, b.math.random())
      local k = a.math.random(6)
      assert.is_true(k >= 1 and k <= 6 and k == math.floor(k))
      assert.are.equal(k, b.math.random(6))
      assert.are.equal(a.math.random(-2, 2), b.math.random(-2, 2))
    end
    assert.are.equal(5, a.math.random(5, 5))
    assert.has_error(function() a.math.random(3, 2) end, "bad argument to 'random' (interval is empty)")
    assert.has_error(function() a.math.random(0) end, "bad argument to 'random' (interval is empty)")
    assert.has_error(function() a.math.random("x") end, "bad argument to 'random' (number expected)")
    a.math.randomseed(11)
    b.math.randomseed(11)
    assert.are.equal(a.math.random(), b.math.random())
    b.math.randomseed(12)
    assert.are_not.equal(a.math.random(), b.math.random())
    assert.has_error(function() a.math.randomseed(0 / 0) end)
  end)

  it("sends print to the log sink", function()
    local lines = {}
    run("print('a', 1, nil, true)", lines)
    assert.are.same({ "a\t1\tnil\ttrue" }, lines)
  end)

  it("keeps globals the script writes inside the sandbox", function()
    run("leaked = 1")
    assert.is_nil(rawget(_G, "leaked"))
  end)

  it("loads user modules from the path, sandboxed, once", function()
    local lines = {}
    local env = new_env(lines)
    local a = env.require("helper")
    local b = env.require("helper")
    assert.are.equal("made", a.suffix)
    assert.are.equal(a, b)
    assert.are.same({ "helper loaded; io is nil" }, lines)
  end)

  it("gives read-only views of the trusted maggy library and a private cjson", function()
    local env = new_env({})
    local maggy, space = env.require("maggy"), env.require("maggy.searchspace")
    assert.are.equal(maggy, env.require("maggy"))
    assert.are.equal(require("maggy").double, maggy.double)
    assert.are.equal(require("maggy.searchspace").new, space.new)
    assert.are.equal(require("maggy").WAIT, maggy.WAIT) -- known by identity
    assert.are.equal(require("maggy.optimizers.tpe").new, maggy.optimizers.tpe)
    local cj = env.require("cjson")
    assert.are_not.equal(require("cjson"), cj)
    assert.are.equal(cj, env.require("cjson"))
    assert.are.same({ 1 }, cj.decode("[1]"))
  end)

  it("refuses the engine's internals and names missing modules", function()
    local env = new_env({})
    local ok, err = pcall(env.require, "maggy.runtime")
    assert.is_false(ok)
    assert.matches("module 'maggy.runtime' is internal to the engine", err, 1, true)
    ok, err = pcall(env.require, "no_such_module")
    assert.is_false(ok)
    assert.matches("module 'no_such_module' not found", err, 1, true)
  end)

  it("lets no script patch the library the engine runs", function()
    local env = new_env({})
    local real_new = require("maggy.searchspace").new
    local attempts = {
      function() env.require("maggy.searchspace").new = print end,
      function() env.require("maggy").optimizers.tpe = print end,
      function() env.require("maggy").WAIT.x = 1 end,
      function() env.require("maggy.trial").new = print end,
    }
    for i, attempt in ipairs(attempts) do
      local ok, err = pcall(attempt)
      assert.is_false(ok, i)
      assert.matches("read-only", err, 1, true)
    end
    assert.are.equal(real_new, require("maggy.searchspace").new)
    assert.are_not.equal(print, require("maggy").optimizers.tpe)
  end)

  it("leads from no library object to its class", function()
    local objects = run([[
      local maggy = require "maggy"
      local space = maggy.searchspace { x = maggy.double(0, 1) }
      return { space, maggy.optimizers.tpe {}, maggy.optimizers.gp {}, maggy.optimizers.asha {},
               maggy.optimizers.hyperband {}, maggy.optimizers.bohb {}, maggy.optimizers.random {},
               maggy.optimizers.grid {}, maggy.earlystop.median {}, maggy.earlystop.plateau {},
               require("maggy.rng").new(1), require("maggy.trial").new("ab", 1, { x = 0.5 }) }
    ]])
    for i, obj in ipairs(objects) do
      assert.is_nil(obj.__index, i) -- with Class.__index = Class, the class itself
    end
    assert.are.same({ "x" }, objects[1]:names()) -- the methods still work
  end)

  it("hides the library's metatables and keeps the script's own", function()
    local env = new_env({})
    local space = run([[
      local maggy = require "maggy"
      return maggy.searchspace { x = maggy.double(0, 1) }
    ]])
    assert.is_nil(env.getmetatable(space))
    local ok, err = pcall(env.setmetatable, space, { __index = function() return print end })
    assert.is_false(ok)
    assert.matches("cannot change the metatable of an object of the maggy library", err, 1, true)
    local mine = { __index = { hello = 1 } }
    local obj = env.setmetatable({}, mine)
    assert.are.equal(mine, env.getmetatable(obj))
    assert.are.equal(1, obj.hello)
    env.setmetatable(obj, nil) -- its own: may be replaced
  end)

  it("gives only the public library modules, and never searches for others", function()
    local env = new_env({})
    assert.are.equal(require("maggy.optimizers.history").lie, env.require("maggy.optimizers.history").lie)
    for _, name in ipairs({ "maggy.evil", "maggy.optimizers.gp_linalg", "maggy.json", "maggy.ctx",
      "maggy.experiment", "maggy.sandbox" }) do
      local ok, err = pcall(env.require, name)
      assert.is_false(ok, name)
      assert.matches("is internal to the engine", err, 1, true)
    end
    assert.is_nil(rawget(_G, "escaped_the_sandbox"))
    assert.is_nil(env.escaped_the_sandbox)
  end)

  it("loads only source files, in the sandbox", function()
    local env = new_env({})
    local chunk = sandbox.loadfile(env, FIXTURES .. "/helper.lua")
    assert.are.equal(env, getfenv(chunk))
    local bytecode = os.tmpname()
    local f = io.open(bytecode, "wb")
    f:write(string.dump(function() return 1 end))
    f:close()
    local none, err = sandbox.loadfile(env, bytecode)
    os.remove(bytecode)
    assert.is_nil(none)
    assert.matches("wrong mode", err, 1, true)
  end)
end)
