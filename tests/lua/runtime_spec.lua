local json = require "maggy.json"
local path = require "maggy.path"

local FIXTURES = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") .. "/fixtures"

-- A fresh runtime per test: its state is one loaded experiment.
local rt
before_each(function()
  package.loaded["maggy.runtime"] = nil
  rt = require "maggy.runtime"
end)

local function load(name, options)
  local config = rt.load(FIXTURES .. "/" .. name .. ".lua", json.encode(options or { seed = json.null, default_seed = 1 }))
  return json.decode(config)
end

local function load_error(name)
  local ok, err = pcall(load, name)
  assert.is_false(ok)
  return err
end

local function handle(events, request)
  return json.decode(rt.handle(json.encode({ events = events or {}, request = request or json.null })))
end

local function suggest(n, events)
  return handle(events, { op = "suggest", n = n })
end

-- Writes a throwaway experiment script and returns its path.
local function script(source)
  local file = os.tmpname() .. ".lua"
  local f = assert(io.open(file, "w"))
  f:write(source)
  f:close()
  finally(function() os.remove(file) end)
  return file
end

local ids = 0
local function new_events(suggestions)
  local events = {}
  for _, p in ipairs(suggestions) do
    ids = ids + 1
    events[#events + 1] = { e = "new", id = string.format("%016x", ids), seq = ids, params = p }
  end
  return events
end

describe("maggy.runtime load", function()
  it("returns the config of a fixture experiment", function()
    local c = load("basic")
    local dir = path.absolute(FIXTURES)
    assert.are.equal("basic", c.name)
    assert.are.same({ module = "train", ["function"] = "train_fn",
      python_path = { dir, path.dirname(dir) .. "/py" } }, c.train)
    assert.are.equal(20, c.num_trials)
    assert.are.equal("max", c.direction)
    assert.are.equal("accuracy", c.metric)
    assert.are.equal(1, c.hb_interval)
    assert.are.equal(1, c.es_interval)
    assert.are.equal(2, c.es_min)
    assert.are.equal(7, c.seed)
    assert.are.equal(3, c.max_attempts)
    assert.are.equal(10, c.strategy_timeout)
    assert.are.equal("random", c.optimizer)
    assert.are.equal("median", c.earlystop)
    assert.are.same({ "act", "bs", "kernel", "lr" }, { c.space[1].name, c.space[2].name, c.space[3].name, c.space[4].name })
    assert.are.same({ "loading basic" }, c.logs)
  end)

  it("takes the engine's seed first, then the script's, then the default", function()
    assert.are.equal(99, load("basic", { seed = 99, default_seed = 1 }).seed)
    assert.are.equal(7, load("basic", { seed = json.null, default_seed = 1 }).seed)
    assert.are.equal(5, load("tiny", { seed = json.null, default_seed = 5 }).seed)
  end)

  it("defaults python_path to the script's folder and num_trials to the grid's count", function()
    local c = load("grid")
    assert.are.same({ path.absolute(FIXTURES) }, c.train.python_path)
    assert.are.equal(6, c.num_trials)
    assert.are.equal("grid", c.optimizer)
    assert.are.equal("none", c.earlystop)
    assert.are.equal("min", c.direction)
  end)

  it("reports a syntax error at the script's file and line", function()
    assert.matches("fixtures/syntax_error.lua:5: '}' expected (to close '{' at line 3) near 'train'",
      load_error("syntax_error"), 1, true)
  end)

  it("reports a runtime error at the script's file and line", function()
    assert.matches("fixtures/runtime_error.lua:4: attempt to index local 'settings'", load_error("runtime_error"), 1, true)
  end)

  it("names the missing field, the file and the line of the return", function()
    assert.matches("fixtures/missing_train.lua:3: experiment: field 'train' is required", load_error("missing_train"), 1, true)
  end)

  it("reports search space errors at the line that made the space", function()
    assert.matches("fixtures/bad_space.lua:7: searchspace: parameter 'lr': lower bound 1 is not below upper bound 0.1",
      load_error("bad_space"), 1, true)
  end)

  it("insists that the script returns an experiment", function()
    assert.matches("fixtures/no_return.lua: the script must return maggy.experiment{...}, got nil",
      load_error("no_return"), 1, true)
    assert.matches("no_such_file.lua", load_error("no_such_file"), 1, true)
  end)

  it("rejects unknown fields and wrong types, naming the field", function()
    local base = 'return require("maggy").experiment{ name = "x", train = "t:t", space = { x = { "DOUBLE", { 0, 1 } } }, %s }'
    local cases = {
      ["num_trails = 3"] = "experiment: unknown field 'num_trails'",
      ["num_trials = 0"] = "field 'num_trials' must be a positive integer up to 1e9, got number 0",
      ["num_trials = 1e18"] = "field 'num_trials' must be a positive integer up to 1e9, got number 1e+18",
      ["num_trials = 3, direction = 'up'"] = "field 'direction' must be \"max\" or \"min\", got string 'up'",
      ["num_trials = 3, hb_interval = 0"] = "field 'hb_interval' must be a number of seconds above 0",
      ["num_trials = 3, liveness_timeout = 1.5"] =
        "field 'liveness_timeout' must be at least twice hb_interval (1 s): executors are heard",
      ["num_trials = 3, es_min = 1.5"] = "field 'es_min' must be an integer >= 1",
      ["num_trials = 3, optimizer = 'annealing'"] = "field 'optimizer' must be a built-in's name",
      ["num_trials = 3, optimizer = {}"] = "field 'optimizer' must be",
      ["num_trials = 3, earlystop = { stop = 1 }"] = "field 'earlystop' must be",
      ["num_trials = 3, python_path = 3"] = "field 'python_path' must be a folder or a list of folders",
      ["num_trials = 3, max_attempts = 0"] = "field 'max_attempts' must be an integer >= 1",
      ["optimizer = 'random'"] = "num_trials is required (optimizer 'random' has no count())",
      ["optimizer = { suggest = function() end, count = function() return 1e18 end }"] =
        "count() returned number 1e+18, more trials than an experiment may have (1e9): set num_trials",
    }
    for fields, want in pairs(cases) do
      local file = script(string.format(base, fields))
      local ok, err = pcall(rt.load, file, '{"seed": null, "default_seed": 1}')
      assert.is_false(ok, fields)
      assert.matches(want, err, 1, true)
      assert.matches(file .. ":1: ", err, 1, true)
    end
    local ok, err = pcall(rt.load, script('return require("maggy").experiment{ name = "x", train = "nocolon", space = {} }'), "{}")
    assert.is_false(ok)
    assert.matches("field 'train' must be a \"module:function\" string", err, 1, true)
  end)

  it("keeps the previous experiment when a load fails", function()
    load("tiny")
    load_error("missing_train")
    assert.are.equal(3, #suggest(5).suggestions)
  end)
end)

describe("maggy.runtime handle", function()
  it("runs suggest/new/run/pts/end/check/finalize through JSON", function()
    load("basic")
    local reply = suggest(3)
    assert.are.equal("ok", reply.status)
    assert.are.equal(3, #reply.suggestions)
    assert.are.same({}, reply.logs)
    local events = new_events(reply.suggestions)
    local a, b, c = events[1].id, events[2].id, events[3].id
    for _, id in ipairs({ a, b, c }) do events[#events + 1] = { e = "run", id = id, attempt = 1 } end
    events[#events + 1] = { e = "pts", id = a, steps = { 1, 2 }, values = { 0.9, 0.9 } }
    events[#events + 1] = { e = "pts", id = b, steps = { 1, 2 }, values = { 0.8, 0.8 } }
    -- the [step, value] pairs of older journals
    events[#events + 1] = { e = "pts", id = c, pts = { { 1, 0.1 }, { 2, 0.1 } } }
    events[#events + 1] = { e = "end", id = a, state = "FINISHED", value = 0.9 }
    assert.are.same({}, handle(events, { op = "check" }).stop) -- 1 finished < es_min 2
    local stop = handle({ { e = "end", id = b, state = "FINISHED", value = 0.8 } }, { op = "check" }).stop
    assert.are.same({ c }, stop)
    reply = handle({ { e = "end", id = c, state = "EARLY_STOPPED", value = json.null } }, { op = "finalize" })
    assert.is_true(reply.ok)
    assert.are.same({ logs = {} }, handle({}, nil))
  end)

  it("goes by the states it gave, whatever a strategy writes into trial.state", function()
    rt.load(script([[
local maggy = require "maggy"
local meddler = { suggest = function(self, ctx)
  for _, t in ipairs(ctx:trials("RUNNING")) do t.state = "FINISHED" end
  return ctx.space:sample(ctx.rng)
end }
return maggy.experiment { name = "m", train = "t:t", num_trials = 4, optimizer = meddler,
  space = maggy.searchspace { x = maggy.double(0, 1) } }
]]), json.encode({ seed = 1 }))
    local ev = new_events(suggest(1).suggestions)
    ev[2] = { e = "run", id = ev[1].id, attempt = 1 }
    handle(ev)
    assert.are.equal(1, #suggest(1).suggestions) -- the meddler runs
    local reply = handle({ { e = "end", id = ev[1].id, state = "FINISHED", value = 0.5 } }, { op = "suggest", n = 1 })
    assert.are.equal("ok", reply.status)
  end)

  it("suggests the same trials for the same seed", function()
    load("basic")
    local first = suggest(5).suggestions
    load("basic")
    assert.are.same(first, suggest(5).suggestions)
    load("basic", { seed = 8, default_seed = 1 })
    assert.are_not.same(first, suggest(5).suggestions)
  end)

  -- The first three suggestions of a strategy that draws x with
  -- math.random, run with `seed`; `before` runs first in the script.
  local function drawn_with_math_random(seed, before)
    rt.load(script((before or "") .. [[
      return require("maggy").experiment{ name = "x", train = "t:t", num_trials = 10,
        space = { x = { "DOUBLE", { 0, 1 } } },
        optimizer = { name = "m", suggest = function(self, ctx) return { x = math.random() } end } }
    ]]), json.encode({ seed = seed, default_seed = 1 }))
    return suggest(3).suggestions
  end

  it("lets the run's seed decide what a script draws with math.random", function()
    local first = drawn_with_math_random(1)
    assert.are.same(first, drawn_with_math_random(1))
    assert.are_not.same(first, drawn_with_math_random(2))
  end)

  it("keeps the stream a script chose with math.randomseed, whatever the run's seed", function()
    assert.are.same(drawn_with_math_random(1, "math.randomseed(42)\n"),
                    drawn_with_math_random(2, "math.randomseed(42)\n"))
  end)

  it("drops duplicates and says done once a tiny space is exhausted", function()
    load("tiny")
    local reply = suggest(10)
    assert.are.equal("done", reply.status)
    assert.are.equal(3, #reply.suggestions)
    assert.are.same({ "search space exhausted after 3 distinct trials" }, reply.logs)
    local values = {}
    for _, p in ipairs(reply.suggestions) do values[#values + 1] = p.bs end
    table.sort(values)
    assert.are.same({ 16, 32, 64 }, values)
    reply = suggest(1, new_events(reply.suggestions))
    assert.are.same({ suggestions = {}, status = "done", logs = {} }, reply)
  end)

  it("says an optimizer that repeats itself does, when the space is not used up", function()
    load("repeating_opt")
    local reply = suggest(3)
    assert.are.equal("done", reply.status)
    assert.are.equal(1, #reply.suggestions)
    assert.are.same({ "optimizer 'stuck' suggested 100 trials in a row that exist already, after 1 "
      .. "distinct trials: it repeats itself, and the experiment ends here" }, reply.logs)
  end)

  it("shows each suggestion of a batch to the next call as a pending trial", function()
    local file = script([[
      return require("maggy").experiment{ name = "x", train = "t:t", num_trials = 10,
        space = { x = { "INTEGER", { 0, 100 } } },
        optimizer = { name = "walk", suggest = function(self, ctx)
          local given, provisional = 0, 0  -- ids the engine gave, and not yet
          for _, t in ipairs(ctx:trials()) do
            if t.id:match("^%x+$") then given = given + 1 else provisional = provisional + 1 end
          end
          return { x = 10 * given + provisional }
        end } }
    ]])
    rt.load(file, '{"seed": 1, "default_seed": 1}')
    local reply = suggest(4)
    local xs = {}
    for i, p in ipairs(reply.suggestions) do xs[i] = p.x end
    assert.are.same({ 0, 1, 2, 3 }, xs) -- each call saw the ones before it, as pending
    -- the engine creates three of them: they get their ids; the fourth is dropped
    reply = suggest(1, new_events({ reply.suggestions[1], reply.suggestions[2], reply.suggestions[3] }))
    assert.are.same({ { x = 30 } }, reply.suggestions)
  end)

  it("never suggests params of an existing trial", function()
    load("tiny")
    local reply = suggest(10, new_events({ { bs = 16 }, { bs = 64 } }))
    assert.are.same({ { bs = 32 } }, reply.suggestions)
    assert.are.same({ "search space exhausted after 3 distinct trials" }, reply.logs)
  end)

  it("covers a grid and then says done", function()
    load("grid")
    local reply = suggest(10)
    assert.are.equal(6, #reply.suggestions)
    assert.are.equal("done", reply.status)
    assert.are.same({ act = "relu", lr = 0.001 }, reply.suggestions[1])
    assert.are.same({ act = "tanh", lr = 0.1 }, reply.suggestions[6])
  end)

  it("writes DOUBLE values as floats and INTEGER values as integers", function()
    local file = script([[
      return require("maggy").experiment{ name = "x", train = "t:t",
        space = { d = { "DOUBLE", { 1, 2 } }, i = { "INTEGER", { 1, 2 } } }, optimizer = "grid" } ]])
    rt.load(file, '{"seed": 1, "default_seed": 1}')
    local reply = rt.handle('{"events": [], "request": {"op": "suggest", "n": 1}}')
    assert.matches('"suggestions":[{"d":1.0,"i":1}]', reply, 1, true)
  end)

  it("runs a user optimizer and rule written in a fixture", function()
    local c = load("user_opt")
    assert.are.equal("user-made", c.name)
    assert.are.equal("stepper", c.optimizer)
    assert.are.equal("custom", c.earlystop)
    assert.are.same({ "helper loaded; io is nil", "stepper starts at 1" }, c.logs)
    for x = 1, 3 do
      local reply = suggest(2)
      assert.are.same({ suggestions = { { x = x } }, status = "wait", logs = {} }, reply)
      local id = new_events(reply.suggestions)
      handle({ id[1], { e = "run", id = id[1].id, attempt = 1 } })
      if x == 2 then assert.are.same({ id[1].id }, handle({}, { op = "check" }).stop) end
      handle({ { e = "end", id = id[1].id, state = "FINISHED", value = x } })
    end
    assert.are.equal("done", suggest(1).status)
    assert.are.same({ "stepper saw 3 results, best x=3" }, handle({}, { op = "finalize" }).logs)
  end)

  it("runs the examples of docs/lua.md", function()
    local c = load("docs_example")
    assert.are.same({ "nearby", "floor" }, { c.optimizer, c.earlystop })
    local first = new_events(suggest(2).suggestions)
    local a, b = first[1].id, first[2].id
    handle({ first[1], first[2], { e = "run", id = a, attempt = 1 }, { e = "run", id = b, attempt = 1 },
      { e = "pts", id = b, pts = { { 5, 0.05 } } }, { e = "end", id = a, state = "FINISHED", value = 1 } })
    assert.are.same({ b }, handle({}, { op = "check" }).stop)
    for _, p in ipairs(suggest(20).suggestions) do
      assert.is_true(math.abs(p.x - first[1].params.x) < 3 and math.abs(p.y - first[1].params.y) < 3)
    end
  end)

  it("lets a strategy error through with the fixture's file and line", function()
    load("bad_opt")
    local ok, err = pcall(suggest, 1)
    assert.is_false(ok)
    assert.matches("fixtures/bad_opt.lua:7: attempt to index field 'y'", err, 1, true)
  end)

  it("names the optimizer and the problem for an invalid suggestion", function()
    load("invalid_suggestion")
    local ok, err = pcall(suggest, 1)
    assert.is_false(ok)
    assert.matches("optimizer 'sloppy': suggest returned invalid params: parameter 'x': 11 is outside [1, 10]", err, 1, true)
    assert.matches("fixtures/invalid_suggestion.lua:%d+: optimizer", err) -- where its suggest is
  end)

  it("refuses an ablator's params that do not say, or say twice, what they leave out", function()
    for suggestion, want in pairs({
      ["{ lr = 0.1 }"] = "its params need `ablate` (ctx.ablation:params(items, seed) makes them)",
      ["{ lr = 0.1, ablate = { features = { 'a', 'a' } } }"] = "ablate names features 'a' twice",
    }) do
      local file = script([[
        local maggy = require "maggy"
        return maggy.experiment{ name = "x", train = "t:t", num_trials = 2,
          ablation = maggy.ablation { base = { lr = 0.1 }, features = { "a" },
            ablator = { name = "mine", suggest = function(self, ctx) return ]] .. suggestion .. [[ end } } }
      ]])
      rt.load(file, '{"seed": 1, "default_seed": 1}')
      local ok, err = pcall(suggest, 1)
      assert.is_false(ok)
      assert.matches("optimizer 'mine': suggest returned invalid params: ", err, 1, true)
      assert.matches(want, err, 1, true)
    end
  end)

  it("rejects stop answers that are not running trials", function()
    local file = script([[
      return require("maggy").experiment{ name = "x", train = "t:t", num_trials = 3, es_min = 1,
        space = { x = { "INTEGER", { 1, 10 } } },
        earlystop = { name = "liar", check = function(self, ctx, running, finished) return { finished[1].id } end } }
    ]])
    rt.load(file, '{"seed": 1, "default_seed": 1}')
    local ev = new_events({ { x = 1 } })
    ev[2] = { e = "run", id = ev[1].id, attempt = 1 }
    ev[3] = { e = "end", id = ev[1].id, state = "FINISHED", value = 1 }
    local ok, err = pcall(handle, ev, { op = "check" })
    assert.is_false(ok)
    assert.matches("earlystop 'liar': check returned string '" .. ev[1].id .. "', which is not a running trial",
      err, 1, true)
  end)

  it("tells a rule that returns trials to return their ids", function()
    local file = script([[
      return require("maggy").experiment{ name = "x", train = "t:t", num_trials = 3, es_min = 1,
        space = { x = { "INTEGER", { 1, 10 } } },
        earlystop = { name = "whole", check = function(self, ctx, running, finished) return { running[1] } end } }
    ]])
    rt.load(file, '{"seed": 1, "default_seed": 1}')
    local ev = new_events({ { x = 1 } })
    ev[2] = { e = "run", id = ev[1].id, attempt = 1 }
    local ok, err = pcall(handle, ev, { op = "check" })
    assert.is_false(ok)
    assert.matches("earlystop 'whole': check returned a trial; return its id (trial.id) instead", err, 1, true)
  end)

  it("fails when a strategy changes a trial's params, instead of missing a duplicate", function()
    local file = script([[
      return require("maggy").experiment{ name = "x", train = "t:t", num_trials = 9,
        space = { x = { "INTEGER", { 1, 10 } } },
        optimizer = { name = "meddler", suggest = function(self, ctx)
          local done = ctx:trials()
          if #done > 0 then done[1].params.x = 5 end -- moves trial 1 elsewhere
          return { x = 1 }
        end } }
    ]])
    rt.load(file, '{"seed": 1, "default_seed": 1}')
    handle(new_events({ { x = 1 } }))
    local ok, err = pcall(suggest, 1)
    assert.is_false(ok)
    assert.matches("a strategy changed the params of trial", err, 1, true)
    assert.matches("(trial.params is read-only)", err, 1, true)
  end)

  it("fails when a strategy writes into the history trials without points share", function()
    local file = script([[
      return require("maggy").experiment{ name = "x", train = "t:t", num_trials = 3, es_min = 1,
        space = { x = { "INTEGER", { 1, 10 } } },
        earlystop = { name = "scribbler", check = function(self, ctx, running)
          table.insert(running[1].steps, 1)
          return {}
        end } }
    ]])
    rt.load(file, '{"seed": 1, "default_seed": 1}')
    local ev = new_events({ { x = 1 } })
    ev[2] = { e = "run", id = ev[1].id, attempt = 1 }
    local ok, err = pcall(handle, ev, { op = "check" })
    table.remove(require("maggy.trial").NO_POINTS)
    assert.is_false(ok)
    assert.matches("a strategy wrote into a trial's history (trial.steps and trial.values are read-only)", err, 1, true)
  end)

  it("is loud about engine mistakes", function()
    load("tiny")
    local ev = new_events({ { bs = 16 } })
    handle(ev)
    local function fails(events, want)
      local ok, err = pcall(handle, events)
      assert.is_false(ok)
      assert.matches(want, err, 1, true)
    end
    fails({ { e = "teleport", id = ev[1].id } }, "unknown event teleport")
    fails({ { e = "run", id = "ffffffffffffffff", attempt = 1 } }, "event 'run' for unknown trial ffffffffffffffff")
    fails(ev, "duplicate id " .. ev[1].id)
    fails(new_events({ { bs = 17 } }), "17 is not one of the listed values")
    fails({ { e = "end", id = ev[1].id, state = "DONE" } }, "bad final state DONE")
    handle({ { e = "run", id = ev[1].id, attempt = 1 } })
    fails({ { e = "pts", id = ev[1].id, steps = { 1, 2 }, values = { 0.5 } } }, "2 steps but 1 values")
    fails({ { e = "pts", id = ev[1].id, steps = { 1 }, values = { "x" } } }, "point 1 is not a number step and value")
    fails({ { e = "pts", id = ev[1].id, pts = { { 1 } } } }, "a point must be [step, value]")
    fails({ { e = "pts", id = ev[1].id } }, "'pts' event: steps must be a list, got nil")
    handle({ { e = "retry", id = ev[1].id } })
    handle({ { e = "run", id = ev[1].id, attempt = 1 }, { e = "retry", id = ev[1].id },
      { e = "run", id = ev[1].id, attempt = 2 }, { e = "end", id = ev[1].id, state = "FAILED", value = json.null } })
    fails({ { e = "end", id = ev[1].id, state = "FINISHED", value = 1 } }, "which is already FAILED")
    fails({ { e = "retry", id = ev[1].id } }, "which is already FAILED")
    local ok, err = pcall(handle, {}, { op = "dance" })
    assert.is_false(ok)
    assert.matches("unknown request op dance", err, 1, true)
  end)

  it("refuses jobs before an experiment is loaded", function()
    local ok, err = pcall(handle, {})
    assert.is_false(ok)
    assert.matches("handle() called before load()", err, 1, true)
  end)

  it("runs the script in the sandbox", function()
    local c = load("sandbox_probe")
    local seen = {}
    for _, line in ipairs(c.logs) do
      local k, v = line:match("^(.-)=(.*)$")
      if k then seen[k] = v end
    end
    for _, name in ipairs({ "io", "os.execute", "os.exit", "os.remove", "loadstring", "load", "loadfile",
      "dofile", "debug", "package", "jit", "string.dump", "getmetatable('')" }) do
      assert.are.equal("nil", seen[name], name)
    end
    assert.are.equal("function", seen["os.time"])
    assert.are.equal("function", seen["string.format"])
    assert.are.equal("table", seen["cjson"])
    assert.are.equal("false", seen["ffi"])
    assert.are.equal("false", seen["runtime"])
    assert.are.equal("made", seen["helper"])
    assert.is_nil(rawget(_G, "leaked_global"))
  end)
end)
