-- The contract with the C engine. On its Lua thread the engine does
--
--   local rt = require "maggy.runtime"
--   config_json = rt.load(script_path, options_json)  -- once
--   reply_json  = rt.handle(job_json)                 -- for every job
--
-- each call through its protected bridge (which adds the traceback). Errors
-- are raised, never returned: user strategy errors pass through untouched so
-- they keep the file:line of the user's code; engine mistakes (unknown event,
-- unknown trial id, a trial finalized twice) are raised too, loudly.
-- docs/lua.md describes the JSON shapes; this file is their reference.
--
-- State: one loaded experiment, in the upvalue `exp`.

local describe = require "maggy.describe"
local json = require "maggy.json"
local maggy = require "maggy"
local Ctx = require "maggy.ctx"
local Trial = require "maggy.trial"
local experiment = require "maggy.experiment"
local rng = require "maggy.rng"
local sandbox = require "maggy.sandbox"
local path = require "maggy.path"
local searchspace = require "maggy.searchspace"
local ablation = require "maggy.ablation"
local keyset = require "maggy.keyset"

local M = {}

local WAIT = maggy.WAIT
local MAX_DUPLICATES = 100 -- consecutive duplicate suggestions before "exhausted"
local MAX_SUGGEST = 2 ^ 20 -- suggestions one request may ask for

local exp -- {ctx, opt_ctx, rule_ctx, optimizer, rule, opt_name, rule_name, keys, exhausted}
local printing_ctx -- the ctx whose log lines take_logs() hands over: the loading one, then exp's
local key_of_trial, params_changed -- for exp.keys (below, with the params checks)

local function fail(fmt, ...)
  error(string.format(fmt, ...), 0)
end

-- x when it is a JSON object (a Lua table), else a failure naming `what`.
local function object_of(x, what)
  if type(x) ~= "table" then fail("maggy.runtime: %s must be an object, got %s", what, type(x)) end
  return x
end

-- x when it is a JSON list (a table; an empty object counts), else a failure.
local function list_of(x, what)
  if type(x) ~= "table" then fail("maggy.runtime: %s must be a list, got %s", what, type(x)) end
  return x
end

---------------------------------------------------------------------------
-- load
---------------------------------------------------------------------------

local function run_script(script, dir, ctx)
  local env = sandbox.new({
    path = dir .. "/?.lua;" .. dir .. "/?/init.lua;" .. package.path,
    print = function(line) Ctx.log_line(ctx, line) end,
  })
  local chunk, err = sandbox.loadfile(env, script)
  if not chunk then error(err, 0) end
  experiment.set_script(script)
  ablation.set_script_dir(dir)
  local e = chunk()
  experiment.set_script(nil)
  if not experiment.is_experiment(e) then
    fail("%s: the script must return maggy.experiment{...}, got %s", script, type(e))
  end
  return e, env
end

local function resolve_seed(options, e)
  local seed = json.opt(options.seed)
  if seed == nil then seed = e.seed end
  if seed == nil then seed = json.opt(options.default_seed) end
  if type(seed) ~= "number" or seed ~= math.floor(seed) or math.abs(seed) >= 2 ^ 53 then
    fail("maggy.runtime: no usable seed (got %s)", describe(seed))
  end
  return seed
end

-- The trial count: the experiment's, else the optimizer's count().
local function resolve_num_trials(e, script, optimizer, opt_ctx, opt_name)
  if e.num_trials then return e.num_trials end
  if type(optimizer.count) ~= "function" then
    fail("%s num_trials is required (optimizer '%s' has no count())", experiment.where(script), opt_name)
  end
  local n = optimizer:count(opt_ctx)
  if type(n) ~= "number" or n ~= math.floor(n) or n < 1 then
    fail("%s optimizer '%s': count() must return a positive integer, got %s",
      experiment.where(script), opt_name, describe(n))
  end
  if n > experiment.MAX_TRIALS then
    fail("%s optimizer '%s': count() returned %s, more trials than an experiment may have (1e9): "
      .. "set num_trials", experiment.where(script), opt_name, describe(n))
  end
  return n
end

local function train_config(e, dir)
  if e.train == nil then return nil end -- a simulation
  local module, fn = e.train:match("^(.*):(.*)$")
  local folders = {}
  for i, p in ipairs(e.python_path or { "." }) do
    folders[i] = path.normalize(path.join(dir, p))
  end
  return { module = module, ["function"] = fn, python_path = folders }
end

local function config_of(e, dir, ctx, seed)
  return {
    name = e.name, train = train_config(e, dir), num_trials = ctx.num_trials,
    direction = e.direction, metric = e.metric, hb_interval = e.hb_interval,
    es_interval = e.es_interval, es_min = e.es_min, seed = seed,
    max_attempts = e.max_attempts, strategy_timeout = e.strategy_timeout,
    strategy_memory = e.strategy_memory,
    liveness_timeout = e.liveness_timeout, trial_timeout = e.trial_timeout,
    exclude_after = e.exclude_after, fail_fast = e.fail_fast,
    max_trials_per_executor = e.max_trials_per_executor,
    optimizer = experiment.strategy_name(e.optimizer),
    earlystop = experiment.strategy_name(e.earlystop),
    space = e.space:describe(),
    ablation = e.ablation and ablation.describe(e.ablation) or nil,
  }
end

-- ctx exists before the script runs so that its prints are kept.
local function configure_ctx(ctx, e, seed)
  ctx.space, ctx.direction, ctx.metric, ctx.es_min = e.space, e.direction, e.metric, e.es_min
  ctx.ablation = e.ablation
  ctx.rng = rng.new(seed)
end

-- A simulation's benchmark gives its space as Space:describe() would.
local function benchmark_space(list)
  local specs = {}
  for _, p in ipairs(list) do specs[p.name] = p end
  local space, err = searchspace.new(specs)
  if not space then fail("maggy.runtime: the benchmark's search space: %s", err) end
  return space
end

-- The engine calls a strategy's methods with a colon, strategy:suggest(ctx).
-- One defined with a dot and a first parameter named ctx would take the
-- strategy for ctx, and fail later at some ctx.space with no hint why.
local function check_method_colons(strategy, kind, name, methods)
  for _, method in ipairs(methods) do
    local f = strategy[method]
    if type(f) == "function" and debug.getlocal(f, 1) == "ctx" then
      local at = debug.getinfo(f, "S")
      fail("%s:%d: %s '%s': %s is called as a method, %s:%s(ctx), so its first parameter is the %s "
        .. "itself, not ctx: define it with a colon, `function X:%s(ctx)`, not `function X.%s(ctx)`",
        at.source:gsub("^@", ""), at.linedefined, kind, name, method, kind, method, kind, method, method)
    end
  end
end

-- Loads the experiment script; returns the engine's config as JSON.
-- options: seed, default_seed, and for simulations `space` (the benchmark's).
-- A failed load leaves the previously loaded experiment in place.
function M.load(script_path, options_json)
  local options = json.decode(options_json or "{}")
  local dir = path.dirname(path.absolute(script_path))
  local ctx = Ctx.new({})
  printing_ctx = ctx
  local space = json.opt(options.space)
  experiment.set_benchmark_space(space and benchmark_space(space))
  local e, env = run_script(script_path, dir, ctx)
  experiment.set_benchmark_space(nil)
  local seed = resolve_seed(options, e)
  configure_ctx(ctx, e, seed)
  sandbox.seed(env, ctx.rng:fork("math.random"))
  local s = {
    ctx = ctx, keys = keyset.new(key_of_trial, params_changed), exhausted = false,
    provisional = {}, provisional_count = 0,
    opt_ctx = Ctx.view(ctx, ctx.rng:fork("optimizer")),
    rule_ctx = Ctx.view(ctx, ctx.rng:fork("earlystop")),
    optimizer = experiment.resolve_optimizer(e), rule = experiment.resolve_earlystop(e),
    opt_name = experiment.strategy_name(e.optimizer), rule_name = experiment.strategy_name(e.earlystop),
  }
  check_method_colons(s.optimizer, "optimizer", s.opt_name, { "suggest", "initialize", "observe", "finalize", "count" })
  check_method_colons(s.rule, "earlystop", s.rule_name, { "check", "initialize" })
  ctx.num_trials = resolve_num_trials(e, script_path, s.optimizer, s.opt_ctx, s.opt_name)
  if s.optimizer.initialize then s.optimizer:initialize(s.opt_ctx) end
  if s.rule.initialize then s.rule:initialize(s.rule_ctx) end
  exp = s
  local config = config_of(e, dir, ctx, seed)
  config.logs = Ctx.take_logs(ctx)
  return json.encode(config)
end

-- The lines printed since the last load() or handle() returned: those of a
-- call that raised an error, which its reply would have carried. As JSON,
-- {"logs": [...]}.
function M.take_logs()
  if not printing_ctx then return '{"logs":[]}' end
  return json.encode({ logs = Ctx.take_logs(printing_ctx) })
end

---------------------------------------------------------------------------
-- events
---------------------------------------------------------------------------

local function find(ev)
  local t = exp.ctx:trial(ev.id)
  if not t then fail("maggy.runtime: event '%s' for unknown trial %s", ev.e, tostring(ev.id)) end
  return t
end

local function not_final(t, ev)
  local state = Ctx.state_of(exp.ctx, t)
  if Trial.FINAL[state] then
    fail("maggy.runtime: event '%s' for trial %s, which is already %s", ev.e, t.id, state)
  end
  return t
end

local EVENTS = {}

-- Besides the space's parameters a trial may carry: `budget` (a positive
-- number) from multi-fidelity optimizers, and in ablation studies `ablate`
-- (what to leave out: lists of names by kind) and `seed` (of a repeat).
local EXTRAS = {
  budget = function(v)
    if type(v) == "number" and v > 0 and v < math.huge then return string.format("%.17g", v) end
    return nil, "budget must be a positive number, got " .. describe(v)
  end,
  ablate = function(v)
    if exp.ctx.ablation == nil then return nil, "'ablate' is only for ablation studies" end
    if not ablation.is_ablate(v) then
      return nil, "ablate must be {features = {...}, layers = {...}, components = {...}} of names"
    end
    local twice = ablation.named_twice(v)
    if twice then return nil, "ablate names " .. twice .. " twice" end
    return ablation.signature(v)
  end,
  seed = function(v)
    if type(v) == "number" and v >= 0 and v == math.floor(v) and v < 2 ^ 53 then return string.format("%d", v) end
    return nil, "seed must be an integer >= 0, got " .. describe(v)
  end,
}
local EXTRA_NAMES = { "ablate", "budget", "seed" }

local NO_EXTRAS = {}

local function has_extras(params)
  for _, name in ipairs(EXTRA_NAMES) do
    if params[name] ~= nil then return true end
  end
  return false
end

-- The space's parameters and the extras' keys, or nil and why. Params
-- without extras (most) come back as they are, with NO_EXTRAS: read only.
local function split_extras(params)
  if type(params) ~= "table" or not has_extras(params) then return params, NO_EXTRAS end
  local rest, keys = {}, {}
  for k, v in pairs(params) do
    if EXTRAS[k] then
      local key, err = EXTRAS[k](v)
      if not key then return nil, err end
      keys[k] = key
    else
      rest[k] = v
    end
  end
  return rest, keys
end

-- Checks params (with their extras); returns them copied, their key.
local function checked_params(params)
  local space = exp.ctx.space
  local rest, keys = split_extras(params)
  if rest == nil then return nil, keys end
  if exp.ctx.ablation and #exp.ctx.ablation.items > 0 and keys.ablate == nil then
    return nil, "in a study that leaves things out every trial says which: its params need "
      .. "`ablate` (ctx.ablation:params(items, seed) makes them)"
  end
  local ok, err = space:validate(rest)
  if not ok then return nil, err end
  local copy = {}
  for _, name in ipairs(space:names()) do copy[name] = rest[name] end
  local key = space:key(copy)
  for _, name in ipairs(EXTRA_NAMES) do
    if keys[name] then
      copy[name] = params[name]
      key = key .. "," .. name .. "=" .. keys[name]
    end
  end
  return copy, key
end

function params_changed(trial)
  fail("a strategy changed the params of trial %s (trial.params is read-only)", trial.id)
end

function key_of_trial(trial)
  local params, key = checked_params(trial.params)
  if not params then params_changed(trial) end
  return key
end

function EVENTS.new(ev)
  if type(ev.id) ~= "string" or exp.ctx:trial(ev.id) then
    fail("maggy.runtime: 'new' event with a missing or duplicate id %s", tostring(ev.id))
  end
  local params, key = checked_params(ev.params)
  if not params then fail("maggy.runtime: trial %s: %s", ev.id, key) end
  local seq = json.opt(ev.seq) or #exp.ctx._trials + 1
  local trial = exp.provisional[key]
  if trial then -- suggested in the last batch: the same trial from then on
    exp.provisional[key] = nil
    Ctx.rename(exp.ctx, trial, ev.id)
    trial.seq = seq
  else
    trial = Trial.new(ev.id, seq, params)
    Ctx.add_trial(exp.ctx, trial)
  end
  exp.keys:add(key, trial)
end

function EVENTS.run(ev)
  local t = not_final(find(ev), ev)
  Ctx.set_state(exp.ctx, t, "RUNNING")
  t.attempt = json.opt(ev.attempt) or t.attempt + 1
end

-- Points come as two lists of numbers, "steps" and "values" (older journals
-- have a list "pts" of [step, value] pairs instead, still read).
function EVENTS.pts(ev)
  local t = find(ev)
  if ev.pts ~= nil then
    for _, p in ipairs(list_of(ev.pts, "'pts' event: pts")) do
      if type(p) ~= "table" or type(p[1]) ~= "number" or type(p[2]) ~= "number" then
        fail("maggy.runtime: trial %s: a point must be [step, value]", t.id)
      end
      t:add_point(p[1], p[2])
    end
    return
  end
  local steps = list_of(ev.steps, "'pts' event: steps")
  local values = list_of(ev.values, "'pts' event: values")
  if #steps ~= #values then
    fail("maggy.runtime: trial %s: %d steps but %d values", t.id, #steps, #values)
  end
  for i = 1, #steps do
    local step, value = steps[i], values[i]
    if type(step) ~= "number" or type(value) ~= "number" then
      fail("maggy.runtime: trial %s: point %d is not a number step and value", t.id, i)
    end
    t:add_point(step, value)
  end
end

EVENTS["end"] = function(ev)
  local t = not_final(find(ev), ev)
  if not Trial.FINAL[ev.state] then
    fail("maggy.runtime: trial %s: bad final state %s", t.id, tostring(ev.state))
  end
  t.value = json.opt(ev.value)
  Ctx.set_state(exp.ctx, t, ev.state)
  if exp.optimizer.observe then exp.optimizer:observe(exp.opt_ctx, t) end
end

-- A retried trial starts over: its history belongs to the failed attempt.
function EVENTS.retry(ev)
  local t = not_final(find(ev), ev)
  t.value = nil
  Ctx.set_state(exp.ctx, t, "PENDING")
  t:clear_history()
end

local function apply(ev)
  local handler = type(ev) == "table" and EVENTS[ev.e]
  if not handler then
    fail("maggy.runtime: unknown event %s", type(ev) == "table" and tostring(ev.e) or type(ev))
  end
  handler(ev)
end

---------------------------------------------------------------------------
-- requests
---------------------------------------------------------------------------

local function checked_suggestion(params)
  local copy, key = checked_params(params)
  if not copy then
    fail("%soptimizer '%s': suggest returned invalid params: %s",
      experiment.defined_at(exp.optimizer.suggest), exp.opt_name, key)
  end
  return copy, key
end

-- Params as JSON-ready values: DOUBLE values stay floats in Python.
local function wire_params(params)
  local out = {}
  for name, v in pairs(params) do
    local p = exp.ctx.space:param(name)
    out[name] = p and p.type == "DOUBLE" and json.float(v) or v
  end
  return out
end

-- How many distinct points the space has: math.huge with a DOUBLE.
local function points_in_space(space)
  local n = 1
  for _, name in ipairs(space:names()) do
    local p = space:param(name)
    if p.values then n = n * #p.values
    elseif p.type == "INTEGER" then n = n * (p.high - p.low + 1)
    else return math.huge end
  end
  return n
end

-- Why the optimizer's duplicates end the experiment: the space is used up,
-- or the optimizer keeps returning trials it made already.
local function say_exhausted(distinct)
  if distinct >= points_in_space(exp.ctx.space) then
    exp.ctx:log("search space exhausted after %d distinct trials", distinct)
  else
    exp.ctx:log("optimizer '%s' suggested %d trials in a row that exist already, after %d distinct "
      .. "trials: it repeats itself, and the experiment ends here", exp.opt_name, MAX_DUPLICATES, distinct)
  end
end

-- The suggestions of a suggest(n) call that are not trials yet: each shows
-- in ctx as a PENDING trial (id "suggested-1", ...) from the moment it is
-- made, so that the next call of the same batch sees it, as it would see a
-- pending trial. The engine's "new" event then gives it its id; one the
-- engine did not create (the experiment ended) is taken out again.
local function add_provisional(params, key)
  exp.provisional_count = exp.provisional_count + 1
  local t = Trial.new("suggested-" .. exp.provisional_count, #exp.ctx._trials + 1, params)
  Ctx.add_trial(exp.ctx, t)
  exp.provisional[key] = t
end

local function drop_provisionals()
  for _, t in pairs(exp.provisional) do Ctx.remove_pending(exp.ctx, t) end
  exp.provisional = {}
end

local function suggest(n)
  if type(n) ~= "number" or n < 0 or n ~= math.floor(n) or n > MAX_SUGGEST then
    fail("maggy.runtime: suggest needs a count n >= 0, got %s", describe(n))
  end
  local out, batch, dups = {}, {}, 0
  if exp.exhausted then return { suggestions = out, status = "done" } end
  while #out < n do
    local params = exp.optimizer:suggest(exp.opt_ctx)
    if params == WAIT then return { suggestions = out, status = "wait" } end
    if params == nil then return { suggestions = out, status = "done" } end
    local copy, key = checked_suggestion(params)
    if batch[key] or exp.keys:has(key) then
      dups = dups + 1
      if dups >= MAX_DUPLICATES then
        exp.exhausted = true
        say_exhausted(#exp.ctx._trials) -- this batch's among them
        return { suggestions = out, status = "done" }
      end
    else
      dups, batch[key] = 0, true
      out[#out + 1] = wire_params(copy)
      add_provisional(copy, key)
    end
  end
  return { suggestions = out, status = "ok" }
end

local function checked_stops(ids)
  if ids == nil then return {} end
  if type(ids) ~= "table" then
    fail("%searlystop '%s': check must return a list of trial ids, got %s",
      experiment.defined_at(exp.rule.check), exp.rule_name, type(ids))
  end
  local out, seen = {}, {}
  for _, id in ipairs(ids) do
    local t = exp.ctx:trial(id)
    if type(id) == "table" and id.id ~= nil then
      fail("earlystop '%s': check returned a trial; return its id (trial.id) instead", exp.rule_name)
    end
    if not t or Ctx.state_of(exp.ctx, t) ~= "RUNNING" then
      fail("earlystop '%s': check returned %s, which is not a running trial", exp.rule_name, describe(id))
    end
    if not seen[id] then out[#out + 1], seen[id] = id, true end
  end
  return out
end

-- Each rule guards itself with its min_trials (default es_min for rules
-- that compare against finished trials). The lists are kept as trials move
-- (Ctx.set_state): a check costs nothing that grows with the trials.
local function check()
  local running, finished = Ctx.running(exp.ctx), Ctx.finished(exp.ctx)
  return { stop = checked_stops(exp.rule:check(exp.rule_ctx, running, finished)) }
end

-- An ablation study's report goes with the reply, for the store and the
-- summary (its ablator's report(), else the study's own).
local function finalize()
  if exp.optimizer.finalize then exp.optimizer:finalize(exp.opt_ctx, exp.ctx:trials()) end
  local reply = { ok = true }
  if exp.ctx.ablation then
    local opt, study = exp.optimizer, exp.ctx.ablation
    local report = opt.report and opt:report(exp.opt_ctx) or study:report(exp.opt_ctx)
    local err = ablation.check_report(report)
    if err then fail("ablator '%s': report(): %s", exp.opt_name, err) end
    report.ablator = report.ablator or exp.opt_name
    report.metric, report.repeats = report.metric or exp.ctx.metric, report.repeats or study.repeats
    reply.ablation = report
  end
  return reply
end

local function dispatch(req)
  if req.op == "suggest" then return suggest(req.n) end
  if req.op == "check" then return check() end
  if req.op == "finalize" then return finalize() end
  fail("maggy.runtime: unknown request op %s", tostring(req.op))
end

-- Applies the job's events, answers its request; returns the reply as JSON.
function M.handle(job_json)
  if not exp then fail("maggy.runtime: handle() called before load()") end
  printing_ctx = exp.ctx
  local job = object_of(json.decode(job_json), "a job")
  for _, ev in ipairs(list_of(json.opt(job.events) or {}, "a job's events")) do apply(ev) end
  drop_provisionals() -- what the last batch's "new" events did not confirm
  local req = json.opt(job.request)
  local reply = req and dispatch(object_of(req, "a job's request")) or {}
  if Trial.no_points_changed() then
    fail("a strategy wrote into a trial's history (trial.steps and trial.values are read-only)")
  end
  reply.logs = Ctx.take_logs(exp.ctx)
  return json.encode(reply)
end

---------------------------------------------------------------------------
-- resume: the engine journals every job it hands to handle(). To continue an
-- interrupted experiment it loads the script with the same seed, replays the
-- journal in order, then reconciles with the stored trials: the strategies
-- end up in the state they had, and suggest what they would have suggested.
---------------------------------------------------------------------------

-- Replays one journaled job: as handle(), but the reply is dropped (what
-- followed from it is in the store already).
function M.replay(job_json)
  M.handle(job_json)
  return "{}"
end

-- The events that bring the strategies in line with the stored trials (a
-- JSON list in creation order, as the store has them): trials created or
-- ended after the last journaled job, and interrupted ones, which go back
-- to PENDING. Applies them and returns them as a job, for the journal.
function M.reconcile(trials_json)
  if not exp then fail("maggy.runtime: reconcile() called before load()") end
  local events = {}
  local function emit(ev)
    apply(ev)
    events[#events + 1] = ev
  end
  for _, r in ipairs(list_of(json.decode(trials_json), "reconcile: the stored trials")) do
    object_of(r, "reconcile: a stored trial")
    local t = exp.ctx:trial(r.id)
    if not t then
      emit({ e = "new", id = r.id, seq = r.seq, params = r.params })
      t = exp.ctx:trial(r.id)
    end
    local state = Ctx.state_of(exp.ctx, t)
    if Trial.FINAL[r.state] then
      if not Trial.FINAL[state] then emit({ e = "end", id = r.id, state = r.state, value = r.value }) end
    elseif state == "RUNNING" then
      emit({ e = "retry", id = r.id })
    end
  end
  drop_provisionals()
  Ctx.take_logs(exp.ctx)
  return json.encode({ events = events, request = json.null })
end

return M
