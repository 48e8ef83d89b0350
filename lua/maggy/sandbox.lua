-- The environment experiment scripts and the modules they require run in.
--
-- Built from an allow-list (after Redis scripting): basic functions, copies of
-- string, table and math (whose random and randomseed draw from a stream of
-- this sandbox's own, seeded by the run's seed: M.seed), os.time/clock/date, a `print` that becomes log
-- lines, getmetatable/setmetatable that only see and change metatables the
-- script set itself (the library's objects keep theirs, hidden), and a
-- `require` that
--   - gives read-only views of the trusted library's public modules (PUBLIC;
--     any other "maggy.*" name is refused, never searched for), so a script
--     cannot patch what the engine runs, and "cjson" (a private instance, so
--     a script's settings do not change the engine's);
--   - loads any other module from the search path as Lua source, in this same
--     environment, once per sandbox.
-- Nothing else: no io, no os.execute/exit/remove, no load/loadstring/loadfile/
-- dofile, no debug, no package, no ffi, no jit, no coroutine.
--
-- The library's classes keep their objects' metatable apart from the class
-- table (`local objects = { __index = Class }`), never `Class.__index =
-- Class`: with that, `obj.__index` would be the class table itself, raw and
-- writable, and a script holding any search space, trial or optimizer could
-- change it for every object, the runtime's own included.

local rng = require "maggy.rng"
local describe = require "maggy.describe"

local M = {}

local BASICS = {
  "assert", "error", "ipairs", "next", "pairs", "pcall", "xpcall", "select",
  "tonumber", "tostring", "type", "unpack", "rawget", "rawset", "rawequal",
}

local LIBRARIES = { "table", "math" }

-- The library's modules a script may require; every other "maggy.*" name
-- is internal to the engine (its state, or raw FFI memory in gp_linalg).
local PUBLIC = {
  ["maggy"] = true, ["maggy.searchspace"] = true, ["maggy.rng"] = true,
  ["maggy.trial"] = true,
  ["maggy.optimizers.random"] = true, ["maggy.optimizers.grid"] = true,
  ["maggy.optimizers.tpe"] = true, ["maggy.optimizers.gp"] = true,
  ["maggy.optimizers.asha"] = true, ["maggy.optimizers.hyperband"] = true,
  ["maggy.optimizers.bohb"] = true, ["maggy.optimizers.history"] = true,
  ["maggy.optimizers.budgets"] = true,
  ["maggy.earlystop.median"] = true, ["maggy.earlystop.percentile"] = true,
  ["maggy.earlystop.plateau"] = true, ["maggy.earlystop.none"] = true,
  ["maggy.ablators.loco"] = true, ["maggy.ablators.path"] = true,
  ["maggy.stats"] = true, ["maggy.quantile"] = true, ["maggy.heap"] = true,
}

local function copy(t, except)
  local out = {}
  for k, v in pairs(t) do
    if not (except and except[k]) then out[k] = v end
  end
  return out
end

-- A read-only view of a library table: reads go through (tables read from
-- it are views too), writes are errors. Sentinels such as maggy.WAIT, whose
-- metatable is locked, are handed over as they are: the runtime knows them
-- by identity, and a locked empty table has nothing to change.
local views = setmetatable({}, { __mode = "k" })

local function view(t)
  if type(t) ~= "table" or getmetatable(t) ~= debug.getmetatable(t) then return t end
  local v = views[t]
  if v then return v end
  v = setmetatable({}, {
    __index = function(_, k) return view(t[k]) end,
    __newindex = function(_, k)
      error(string.format("the maggy library is read-only (cannot set '%s')", tostring(k)), 2)
    end,
    __metatable = false,
  })
  views[t] = v
  return v
end

-- Metatables the script set: the only ones it may see or replace. The
-- library's objects (the ctx and trials strategies get, search spaces)
-- keep theirs out of reach, and so does the string metatable.
local function metatable_guards()
  local own = setmetatable({}, { __mode = "k" })
  local function guarded_getmetatable(v)
    local mt = debug.getmetatable(v)
    if mt ~= nil and own[mt] then return getmetatable(v) end
    return nil
  end
  local function guarded_setmetatable(t, mt)
    local old = debug.getmetatable(t)
    if old ~= nil and not own[old] then
      error("setmetatable: cannot change the metatable of an object of the maggy library", 2)
    end
    if type(mt) == "table" then own[mt] = true end
    return setmetatable(t, mt)
  end
  return guarded_getmetatable, guarded_setmetatable
end

local function make_print(sink)
  return function(...)
    local parts = {}
    for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
    sink(table.concat(parts, "\t"))
  end
end

local function trusted(name)
  if name == "cjson" or name == "cjson.safe" then
    return require(name).new()
  end
  if not PUBLIC[name] then
    error(string.format("module '%s' is internal to the engine", name), 3)
  end
  return view(require(name))
end

local function is_trusted(name)
  return name == "maggy" or name:sub(1, 6) == "maggy." or name == "cjson" or name == "cjson.safe"
end

-- Loads a Lua source file (never bytecode) to run in `env`.
function M.loadfile(env, path)
  local chunk, err = loadfile(path, "t")
  if not chunk then return nil, err end
  return setfenv(chunk, env)
end

local LOADING = {}

local function make_require(env, search_path)
  local loaded = {}
  return function(name)
    if type(name) ~= "string" then
      error("require: the module name must be a string, got " .. type(name), 2)
    end
    if loaded[name] == LOADING then
      error(string.format("require: loop or previous error loading module '%s'", name), 2)
    end
    if loaded[name] ~= nil then return loaded[name] end
    if is_trusted(name) then
      loaded[name] = trusted(name)
      return loaded[name]
    end
    local file, tried = package.searchpath(name, search_path)
    if not file then
      error(string.format("module '%s' not found:%s", name, tried), 2)
    end
    local chunk, err = M.loadfile(env, file)
    if not chunk then error(err, 0) end
    loaded[name] = LOADING
    local result = chunk(name, file)
    loaded[name] = result == nil and true or result
    return loaded[name]
  end
end

-- math.random and math.randomseed as Lua 5.1 has them, drawing from a
-- stream of this sandbox's own (maggy.rng) instead of the Lua state's
-- shared one, whose sequence is the same whatever the run's seed. Until
-- M.seed gives the run's, the stream is that of seed 0; a script that
-- called math.randomseed itself keeps the stream it chose.
local streams = setmetatable({}, { __mode = "k" })

local function seeded_math(env)
  local box = { r = rng.new(0) }
  streams[env] = box
  local floor = math.floor
  env.math.random = function(m, n)
    local u = box.r:random()
    if m == nil then return u end
    if type(m) ~= "number" or (n ~= nil and type(n) ~= "number") then
      error("bad argument to 'random' (number expected)", 2)
    end
    local lo, hi
    if n == nil then lo, hi = 1, floor(m) else lo, hi = floor(m), floor(n) end
    if lo > hi then error("bad argument to 'random' (interval is empty)", 2) end
    return lo + floor(u * (hi - lo + 1))
  end
  env.math.randomseed = function(x)
    if type(x) ~= "number" or x ~= x or math.abs(x) >= 2 ^ 53 then
      error("bad argument to 'randomseed' (a number below 2^53 expected, got "
        .. describe(x) .. ")", 2)
    end
    box.r = rng.new(floor(x))
    box.chosen = true
  end
end

-- Gives env's math.random the generator r (a fork of the run's ctx.rng):
-- a run's seed decides what a script draws with math.random too.
function M.seed(env, r)
  local box = streams[env]
  if not box.chosen then box.r = r end
end

-- opts.path: where `require` looks for user modules (package.path syntax);
-- opts.print: function(line) receiving what the script prints.
function M.new(opts)
  local env = {}
  for _, name in ipairs(BASICS) do env[name] = _G[name] end
  for _, name in ipairs(LIBRARIES) do env[name] = copy(_G[name]) end
  seeded_math(env)
  env.string = copy(string, { dump = true }) -- bytecode is not a safe currency
  env.getmetatable, env.setmetatable = metatable_guards()
  env.os = { time = os.time, clock = os.clock, date = os.date }
  env.print = make_print(opts.print)
  env.require = make_require(env, opts.path)
  env._G = env
  env._VERSION = _VERSION
  return env
end

return M
