-- Property tests: many random inputs (seeded, so a failure repeats), well
-- formed and malformed, for the two places where outside data enters the
-- library: maggy.searchspace (space definitions from scripts, params from
-- optimizers) and maggy.runtime (the engine's jobs). Each input must be
-- accepted or refused with a message; a Lua error of the wrong kind (an
-- "attempt to index a nil value" inside the library, a bad argument to a
-- built-in) is a bug. An accepted space must also keep its own promises:
-- what it samples, maps through the unit cube or puts on a grid validates.
--
-- A failure prints the seed and the input. Known bugs, reported and not yet
-- fixed, are listed in KNOWN: inputs that hit one are counted and shown as
-- pending, so that new ones still fail.

local json = require "maggy.json"
local rng = require "maggy.rng"
local searchspace = require "maggy.searchspace"

local FIXTURES = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") .. "/fixtures"
local RUNS = 1000 -- inputs per property and seed
local SEEDS = { 1, 2, 3 }

-- Messages of errors that Lua raises by itself, never on purpose.
local WRONG_KIND = { "attempt to ", "bad argument", "table index is", "stack overflow",
  "invalid order function", "invalid value %(at index" }

-- Known bugs, reported to the owner of lua/ and not fixed yet: the patterns
-- of the messages they give, and what is wrong. Remove an entry with its fix.
local KNOWN = {}

local function describe_value(v, depth)
  depth = depth or 0
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) ~= "table" then return tostring(v) end
  if depth > 3 then return "{...}" end
  local parts = {}
  for k, x in pairs(v) do
    parts[#parts + 1] = "[" .. describe_value(k, depth + 1) .. "]=" .. describe_value(x, depth + 1)
    if #parts > 12 then parts[#parts + 1] = "..."; break end
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

-- nil when err is a proper refusal, else why it is not.
local function wrong_kind(err)
  if type(err) ~= "string" then return "a non-string error: " .. tostring(err) end
  for _, p in ipairs(WRONG_KIND) do
    if err:find(p) then return err end
  end
  return nil
end

local function known(err)
  for _, k in ipairs(KNOWN) do
    for _, p in ipairs(k.patterns) do
      if type(err) == "string" and err:find(p) then return k end
    end
  end
  return nil
end

-- Collects the verdicts of one property. At the end, fails with each new
-- bug found (its message without addresses, once, with the first input that
-- showed it), and reports the known ones as pending.
local function verdicts()
  local seen, new, order = {}, {}, {}
  local self = {}
  function self.error(err, seed, input)
    local why = wrong_kind(err)
    if not why then return end
    local k = known(why)
    if k then
      seen[k] = (seen[k] or 0) + 1
      return
    end
    local key = why:gsub("0x%x+", "0x...")
    if not new[key] then
      new[key] = string.format("seed %d: %s\n  input: %s", seed, why, describe_value(input))
      order[#order + 1] = key
    end
  end
  -- A broken promise is a bug whatever its message.
  function self.bug(why, seed, input)
    local k = known(why)
    if k then
      seen[k] = (seen[k] or 0) + 1
    elseif not new[why] then
      new[why] = string.format("seed %d: %s\n  input: %s", seed, why, describe_value(input))
      order[#order + 1] = why
    end
  end
  function self.report()
    local lines = {}
    for i, key in ipairs(order) do lines[i] = new[key] end
    if #lines > 0 then error(#lines .. " kind(s) of wrong error:\n" .. table.concat(lines, "\n"), 0) end
    for _, k in ipairs(KNOWN) do
      if seen[k] then lines[#lines + 1] = string.format("known bug, seen %d times: %s", seen[k], k.why) end
    end
    if #lines > 0 then pending(table.concat(lines, "\n")) end
  end
  return self
end

---------------------------------------------------------------------------
-- Generators
---------------------------------------------------------------------------

local NUMBERS = { 0, -0.0, 1, -1, 0.5, 2, 3, 6, 16, 1e-4, 1e-300, 5e-324, 1e15, 2 ^ 53, 2 ^ 53 + 2,
  1e308, -1e308, 1.7976931348623157e308, math.huge, -math.huge, 0 / 0 }
local STRINGS = { "", "x", "lr", "units", "DOUBLE", "double", "INTEGER", "integer", "DISCRETE",
  "CATEGORICAL", "Categorical", "FLOAT", "relu", "tanh", "budget", "reporter", "1x", "a-b", "_",
  "%s%d", "\0", "\195\169", string.rep("y", 200) }
local TYPES = { "DOUBLE", "INTEGER", "DISCRETE", "CATEGORICAL", "double", "Integer", "BOOL" }

local function pick(r, list)
  return list[r:randint(1, #list)]
end

local any

local function list_of(r, depth, gen)
  local out = {}
  for i = 1, r:randint(0, 4) do out[i] = gen(r, depth) end
  return out
end

function any(r, depth)
  depth = depth or 2
  local k = r:randint(1, depth > 0 and 9 or 6)
  if k == 1 then return nil end
  if k == 2 then return r:random() < 0.5 end
  if k == 3 then return pick(r, NUMBERS) end
  if k == 4 then return pick(r, STRINGS) end
  if k == 5 then return r:uniform(-100, 100) end
  if k == 6 then return r:randint(-3, 20) end
  if k == 7 then return list_of(r, depth - 1, any) end
  if k == 8 then
    local t = {}
    for _ = 1, r:randint(0, 3) do
      local key = pick(r, STRINGS)
      t[key] = any(r, depth - 1)
    end
    return t
  end
  return function() end
end

local function number(r)
  local k = r:randint(1, 8)
  if k == 1 then return pick(r, NUMBERS) end
  if k == 2 then return any(r, 0) end
  if k <= 5 then return r:randint(-5, 50) end
  return r:uniform(-10, 10)
end

-- One parameter: mostly close to well formed, in either of the two forms.
local function param_spec(r)
  local wide = r:randint(1, 40) == 1 -- bounds as far apart as doubles go
  local ptype = r:random() < 0.8 and pick(r, searchspace.TYPES) or pick(r, TYPES)
  local numeric = ptype:upper() == "DOUBLE" or ptype:upper() == "INTEGER"
  local k = r:randint(1, 10)
  if k == 1 then return any(r) end
  local lo, hi = number(r), number(r)
  if r:random() < 0.9 and type(lo) == "number" and type(hi) == "number" and lo > hi then lo, hi = hi, lo end
  if wide then lo, hi = -pick(r, { 1e308, 1.7976931348623157e308 }), 1e308 end
  local values = list_of(r, 1, r:random() < 0.7 and number or any)
  if k <= 5 then -- constructor form, as maggy.double() and friends make it
    local spec = { type = r:random() < 0.9 and ptype or any(r, 0) }
    if numeric then
      spec.low, spec.high = lo, hi
      if r:random() < 0.3 then spec.log = r:random() < 0.7 or any(r, 0) end
    else
      spec.values = r:random() < 0.9 and values or any(r, 1)
    end
    return spec
  end
  local tuple = { r:random() < 0.9 and ptype or any(r, 0) }
  tuple[2] = numeric and { lo, hi } or values
  if r:random() < 0.2 then tuple[2] = any(r, 1) end
  if r:random() < 0.2 then tuple[3] = r:random() < 0.7 and { log = r:random() < 0.5 } or any(r, 1) end
  return tuple
end

local NAMES = { "lr", "units", "act", "bs", "x", "_y2", "lr", "units", "act", "bs", "x", "_y2",
  "budget", "reporter", "1x", "a-b", "" }

local function space_specs(r)
  if r:random() < 0.05 then return any(r) end
  local specs = {}
  for _ = 1, r:randint(1, 4) do
    local name = r:random() < 0.9 and pick(r, NAMES) or any(r, 0)
    if name ~= nil and name == name then specs[name] = param_spec(r) end
  end
  return specs
end

-- Params for `space`: a sample changed in a few ways, or anything.
local function params_for(r, space)
  if r:random() < 0.1 then return any(r) end
  local p = space:sample(r)
  for _ = 1, r:randint(0, 2) do
    local k = r:randint(1, 4)
    local names = space:names()
    local name = pick(r, names)
    if k == 1 then p[name] = nil
    elseif k == 2 then p[name] = any(r, 1)
    elseif k == 3 then p[pick(r, STRINGS)] = any(r, 0)
    else p.budget = any(r, 0) end
  end
  return p
end

---------------------------------------------------------------------------
-- maggy.searchspace
---------------------------------------------------------------------------

-- Calls f(...) and returns ok, result1, result2 or false, err.
local function try(f, ...)
  return pcall(f, ...)
end

-- What an accepted space promises about its own values; returns the first
-- broken promise, or nil.
local function broken_promise(space, r)
  local ok, err = pcall(json.encode, space:describe())
  if not ok then return "describe() cannot be encoded: " .. err end
  for _ = 1, 5 do
    local p = space:sample(r)
    local valid, why = space:validate(p)
    if not valid then return "a sample is invalid: " .. why .. " " .. describe_value(p) end
    local u = space:to_unit(p)
    for i, x in ipairs(u) do
      if not (x >= 0 and x <= 1) then
        return string.format("to_unit of a sample is %s at %d: %s", tostring(x), i, describe_value(p))
      end
    end
    local back = space:from_unit(u)
    valid, why = space:validate(back)
    if not valid then return "from_unit(to_unit(sample)) is invalid: " .. why end
    local w = {}
    for i = 1, space:size() do w[i] = r:random() end
    valid, why = space:validate(space:from_unit(w))
    if not valid then return "from_unit of a point of the cube is invalid: " .. why end
  end
  local points = r:randint(1, 3)
  if space:grid_size(points) <= 200 then
    for p in space:grid(points) do
      local valid, why = space:validate(p)
      if not valid then return string.format("a grid point (%d per axis) is invalid: %s", points, why) end
    end
  end
  return nil
end

describe("maggy.searchspace on random input", function()
  it("builds a space or says why not, and an accepted space keeps its promises", function()
    local v = verdicts()
    local accepted = 0
    for _, seed in ipairs(SEEDS) do
      local r = rng.new(seed)
      for _ = 1, RUNS do
        local specs = space_specs(r)
        local ok, space, err = try(searchspace.new, specs)
        if not ok then
          v.error(space, seed, specs)
        elseif space == nil then
          assert(type(err) == "string" and #err > 0, "a refusal without a message: " .. describe_value(specs))
        else
          accepted = accepted + 1
          local pok, broken = pcall(broken_promise, space, r)
          if not pok or broken then v.bug("broken promise: " .. tostring(broken), seed, specs) end
        end
      end
    end
    assert.is_true(accepted > RUNS / 10, "too few accepted spaces to learn anything: " .. accepted)
    v.report()
  end)

  it("validates any params with true or a message", function()
    local v = verdicts()
    for _, seed in ipairs(SEEDS) do
      local r = rng.new(seed)
      for _ = 1, RUNS do
        local space = searchspace.new(space_specs(r))
        local made, params = pcall(params_for, r, space or searchspace.new({ x = { "DOUBLE", { 0, 1 } } }))
        if space and made then
          local ok, valid, err = try(space.validate, space, params)
          if not ok then
            v.error(valid, seed, params)
          else
            assert(valid == true or (valid == nil and type(err) == "string"),
              "validate returned " .. tostring(valid) .. ", " .. tostring(err))
          end
        end
      end
    end
    v.report()
  end)
end)

---------------------------------------------------------------------------
-- maggy.runtime
---------------------------------------------------------------------------

local GARBAGE = { "", "5", "null", "[]", "\"job\"", "{", "{}", "{\"events\":5}", "{\"events\":[5]}",
  "{\"events\":\"new\"}", "{\"request\":5}", "{\"request\":\"suggest\"}", "{\"request\":{\"op\":5}}",
  "{\"events\":[],\"request\":{\"op\":\"suggest\",\"n\":NaN}}", "[1,2", string.rep("[", 2000) }
local EVENTS = { "new", "run", "pts", "end", "retry" }
local STATES = { "FINISHED", "EARLY_STOPPED", "FAILED", "RUNNING", "PENDING", "DONE" }

-- An event, mostly close to what the engine sends, about `ids`.
local function event(r, ids, space)
  local id = (#ids > 0 and r:random() < 0.6) and pick(r, ids)
    or (r:random() < 0.8 and string.format("%016x", r:randint(1, 2 ^ 31)) or any(r, 0))
  local ev = { e = r:random() < 0.9 and pick(r, EVENTS) or any(r, 0), id = id }
  if ev.e == "new" then
    ev.params = r:random() < 0.8 and params_for(r, space) or any(r, 1)
    if r:random() < 0.2 then ev.seq = any(r, 0) end
  elseif ev.e == "run" then
    ev.attempt = r:random() < 0.8 and r:randint(1, 3) or any(r, 0)
  elseif ev.e == "pts" then
    ev.pts = {}
    for i = 1, r:randint(0, 3) do
      ev.pts[i] = r:random() < 0.8 and { r:randint(0, 9), r:uniform(0, 1) } or any(r, 1)
    end
    if r:random() < 0.1 then ev.pts = any(r, 1) end
  elseif ev.e == "end" then
    ev.state = r:random() < 0.9 and pick(r, STATES) or any(r, 0)
    ev.value = r:random() < 0.8 and r:uniform(0, 1) or any(r, 0)
  end
  if r:random() < 0.05 then return any(r, 1) end
  return ev
end

local function request(r)
  local k = r:randint(1, 10)
  if k <= 5 then return { op = "suggest", n = r:random() < 0.9 and r:randint(0, 3) or any(r, 0) } end
  if k <= 8 then return { op = "check" } end
  if k == 9 then return { op = "finalize" } end
  return any(r, 1)
end

-- A job's JSON: what the engine would send, changed, or plain garbage.
local function job_json(r, ids, space)
  if r:random() < 0.1 then return pick(r, GARBAGE) end
  local events = {}
  for i = 1, r:randint(0, 4) do events[i] = event(r, ids, space) end
  local ok, text = pcall(json.encode, { events = events, request = request(r) })
  if not ok then return pick(r, GARBAGE) end -- NaN, functions: not JSON
  return text
end

-- The ids of the 'new' events in a job that went through.
local function learn_ids(text, ids)
  local ok, job = pcall(json.decode, text)
  if not ok or type(job) ~= "table" or type(job.events) ~= "table" then return end
  for _, ev in ipairs(job.events) do
    if type(ev) == "table" and ev.e == "new" and type(ev.id) == "string" then ids[#ids + 1] = ev.id end
  end
end

-- Loads a fixture experiment; returns its space, rebuilt from the config.
local function load_fixture(rt, name, seed)
  local config = json.decode(rt.load(FIXTURES .. "/" .. name .. ".lua",
    json.encode({ seed = seed, default_seed = 1 })))
  local specs = {}
  for _, p in ipairs(config.space) do specs[p.name] = p end
  return assert(searchspace.new(specs))
end

describe("maggy.runtime on random jobs", function()
  local rt
  before_each(function()
    package.loaded["maggy.runtime"] = nil
    rt = require "maggy.runtime"
  end)

  for _, fixture in ipairs({ "tiny", "basic" }) do
    it("answers or refuses every job with a message (" .. fixture .. ")", function()
      local v = verdicts()
      for _, seed in ipairs(SEEDS) do
        local space = load_fixture(rt, fixture, seed)
        local r = rng.new(seed)
        local ids = {}
        for _ = 1, RUNS do
          local text = job_json(r, ids, space)
          local ok, reply = pcall(rt.handle, text)
          if ok then
            assert.are.equal("table", type(json.decode(reply)))
            learn_ids(text, ids)
          else
            v.error(reply, seed, text)
          end
        end
      end
      v.report()
    end)
  end

  it("reconciles or refuses any list of stored trials with a message", function()
    local v = verdicts()
    for _, seed in ipairs(SEEDS) do
      local r = rng.new(seed)
      for _ = 1, RUNS / 4 do
        package.loaded["maggy.runtime"] = nil
        rt = require "maggy.runtime"
        load_fixture(rt, "tiny", seed)
        local trials = {}
        for i = 1, r:randint(0, 4) do
          trials[i] = r:random() < 0.7 and {
            id = string.format("%016x", r:randint(1, 5)), seq = i,
            params = { bs = pick(r, { 16, 32, 64, 17 }) },
            state = pick(r, STATES), value = r:uniform(0, 1),
          } or any(r, 1)
        end
        local ok, text = pcall(json.encode, trials)
        if not ok then text = pick(r, GARBAGE) end
        local rok, err = pcall(rt.reconcile, text)
        if not rok then v.error(err, seed, text) end
      end
    end
    v.report()
  end)
end)
