-- The Gaussian-process model behind the GP optimizer (gp.lua): a Matern 5/2
-- kernel with one length scale per input dimension (ARD), a signal variance
-- and a noise variance, on inputs in [0, 1]^D and standardized outputs (the
-- prior mean is 0).
--
--   local theta = model.fit(X, y, n, D, warm)     -- hyperparameters (MAP)
--   local post = model.posterior(X, y, n, D, cap, theta)
--   post:predict(C, m, mu, var)                   -- mean and variance at C
--   post:add(x, value)                            -- one more (fake) point
--
-- X is a flat 0-based FFI array of n rows of D inputs, y a 0-based array of
-- n outputs. theta is a Lua list on the log scale: theta[1..D] the length
-- scales, theta[D+1] the signal variance, theta[D+2] the noise variance.
--
-- The hyperparameters maximize the log marginal likelihood plus the weak
-- priors of BoTorch's default model since 2024 (Hvarfner, Hellsten and Nardi,
-- "Vanilla Bayesian Optimization Performs Great in High Dimensions", ICML
-- 2024): length scales LogNormal(sqrt(2) + log(D) / 2, sqrt(3)), whose mode
-- grows with the dimension, and noise LogNormal(-4, 1); every parameter also
-- has box bounds (BOUNDS). The optimizer is L-BFGS on the log parameters
-- with the gradient from Rasmussen and Williams, "Gaussian Processes for
-- Machine Learning", 2006, eq. 5.9, and iterates projected on the box.

local la = require "maggy.optimizers.gp_linalg"

local exp, log, sqrt, max, min, abs = math.exp, math.log, math.sqrt, math.max, math.min, math.abs

local M = {}

-- Box bounds of the hyperparameters, natural scale.
M.BOUNDS = {
  length = { 0.01, 100 },
  signal = { 0.05, 20 },
  noise = { 1e-6, 1 },     -- the lower bound is the jitter that keeps K invertible
}

local NOISE_PRIOR = { mean = -4, sd = 1 }
local LENGTH_PRIOR_SD = sqrt(3)
local LOG_2PI = log(2 * math.pi)

-- LogNormal priors are densities on the natural scale (as in GPyTorch), so
-- in log space each adds -(theta - mu)^2 / (2 sd^2) - theta; the mode is at
-- theta = mu - sd^2 (length scale 0.29 for D = 2, 0.5 for D = 6).
local function length_prior_mean(D)
  return sqrt(2) + 0.5 * log(D)
end

-- Lower and upper bounds of theta.
function M.bounds(D)
  local lo, hi = {}, {}
  local function set(i, b) lo[i], hi[i] = log(b[1]), log(b[2]) end
  for d = 1, D do set(d, M.BOUNDS.length) end
  set(D + 1, M.BOUNDS.signal)
  set(D + 2, M.BOUNDS.noise)
  return lo, hi
end

-- Where a fit without a previous one starts: the prior modes, unit signal.
function M.default_theta(D)
  local theta = {}
  local mode = length_prior_mean(D) - LENGTH_PRIOR_SD ^ 2
  for d = 1, D do theta[d] = mode end
  theta[D + 1] = 0
  theta[D + 2] = NOISE_PRIOR.mean - NOISE_PRIOR.sd ^ 2
  return theta
end

---------------------------------------------------------------------------
-- The kernel
---------------------------------------------------------------------------

-- Matern 5/2 at scaled squared distance r2: sf2 (1 + t + t^2 / 3) e^-t,
-- t = sqrt(5 r2).
local function matern(r2, sf2)
  local t = sqrt(5 * r2)
  return sf2 * (1 + t + t * t / 3) * exp(-t)
end

-- Inputs divided by the length scales, so that distances need no division,
-- stored by column: input d of point i at XsT[d * ld + i]. The distances
-- from one point to all others then run over contiguous memory.
local function scale_inputs(X, n, D, theta, XsT, ld)
  for d = 0, D - 1 do
    local inv, col = exp(-theta[d + 1]), d * ld
    for i = 0, n - 1 do XsT[col + i] = X[i * D + d] * inv end
  end
end

-- Squared distances from point x (scaled; input d at xs[xi + d * step]) to
-- the first `count` points of XsT, into out[oi .. oi + count - 1].
local function sqdists(XsT, ld, D, count, xs, xi, step, out, oi)
  for j = 0, count - 1 do out[oi + j] = 0 end
  for d = 0, D - 1 do
    local xd, col = xs[xi + d * step], d * ld
    for j = 0, count - 1 do
      local t = xd - XsT[col + j]
      out[oi + j] = out[oi + j] + t * t
    end
  end
end

---------------------------------------------------------------------------
-- The objective of the fit: negative log marginal likelihood and prior
---------------------------------------------------------------------------

-- Buffers for fitting on n points: all n x n with stride n.
local function workspace(X, y, n, D)
  local nn = n * n
  return {
    X = X, y = y, n = n, D = D,
    XsT = la.vector(n * D), alpha = la.vector(n),
    K = la.vector(nn), Kinv = la.vector(nn),
    ksig = la.vector(nn),   -- the signal part of K, for d/d log sf2
    kfac = la.vector(nn),   -- d k / d log l_d = kfac * (scaled difference in d)^2
  }
end

-- Squared distances between the first n points of XsT (stride ld), for
-- every pair j < i, into out[i * ldo + j]. The pairs of the lower triangle
-- run as one flat loop (row by row, with the row's counters carried
-- along): a loop per row would be as short as the row, and on short loops
-- the trace compiler gives up, after which the loop runs interpreted for
-- the rest of the run (a GP on 30 inputs took 10 times longer per
-- suggestion at 150 trials, docs/performance.md).
local function triangle_sqdists(XsT, ld, D, n, out, ldo)
  local pairs = n * (n - 1) / 2
  local i, j = 1, 0
  for _ = 1, pairs do
    out[i * ldo + j] = 0
    j = j + 1
    if j == i then i, j = i + 1, 0 end
  end
  for d = 0, D - 1 do
    local col = d * ld
    i, j = 1, 0
    for _ = 1, pairs do
      local t = XsT[col + i] - XsT[col + j]
      local at = i * ldo + j
      out[at] = out[at] + t * t
      j = j + 1
      if j == i then i, j = i + 1, 0 end
    end
  end
end

-- K (lower triangle) with the pieces its derivatives need.
local function build_kernel(ws, sf2, sn2)
  local n, D, XsT, K = ws.n, ws.D, ws.XsT, ws.K
  local ksig, kfac = ws.ksig, ws.kfac
  triangle_sqdists(XsT, n, D, n, K, n)
  local i, j = 1, 0
  for _ = 1, n * (n - 1) / 2 do
    local at = i * n + j
    local t = sqrt(5 * K[at])
    local e = exp(-t)
    local k = sf2 * (1 + t + t * t / 3) * e
    K[at], ksig[at] = k, k
    kfac[at] = sf2 * (5 / 3) * (1 + t) * e
    j = j + 1
    if j == i then i, j = i + 1, 0 end
  end
  for d = 0, n - 1 do K[d * n + d] = sf2 + sn2 end
end

-- Prior terms of the objective and their gradient, added to g (Lua list).
local function prior_nll(theta, D, g)
  local mu, v = length_prior_mean(D), LENGTH_PRIOR_SD ^ 2
  local f = 0
  for d = 1, D do
    local z = theta[d] - mu
    f = f + z * z / (2 * v) + theta[d]
    g[d] = g[d] + z / v + 1
  end
  local z = theta[D + 2] - NOISE_PRIOR.mean
  local vn = NOISE_PRIOR.sd ^ 2
  f = f + z * z / (2 * vn) + theta[D + 2]
  g[D + 2] = g[D + 2] + z / vn + 1
  return f
end

-- d nll / d theta = tr(W dK / d theta) / 2 with W = K^-1 - alpha alpha^T;
-- K is symmetric, so each pair below the diagonal counts twice. kfac is
-- overwritten with W * kfac, then each length scale's gradient is one pass
-- over it (column d of the scaled inputs is contiguous in XsT).
local function likelihood_gradient(ws, sf2, sn2)
  local n, D, XsT, Kinv, alpha = ws.n, ws.D, ws.XsT, ws.Kinv, ws.alpha
  local ksig, kfac = ws.ksig, ws.kfac
  local gs, gn = 0, 0
  local i, j = 0, 0 -- the lower triangle row by row, flat (see triangle_sqdists)
  for _ = 1, n * (n + 1) / 2 do
    local at = i * n + j
    if j < i then
      local w = Kinv[at] - alpha[i] * alpha[j]
      gs = gs + w * ksig[at]
      kfac[at] = w * kfac[at]
      j = j + 1
    else
      local wii = Kinv[at] - alpha[i] * alpha[i]
      gs = gs + 0.5 * wii * sf2
      gn = gn + 0.5 * wii * sn2
      i, j = i + 1, 0
    end
  end
  local g = {}
  for d = 0, D - 1 do
    local col, s = d * n, 0
    i, j = 1, 0
    for _ = 1, n * (n - 1) / 2 do
      local t = XsT[col + i] - XsT[col + j]
      s = s + kfac[i * n + j] * t * t
      j = j + 1
      if j == i then i, j = i + 1, 0 end
    end
    g[d + 1] = s
  end
  g[D + 1], g[D + 2] = gs, gn
  return g
end

-- The objective at theta and its gradient (a Lua list), or nil when K is
-- not numerically positive definite there.
local function objective(ws, theta)
  local n, D = ws.n, ws.D
  local sf2, sn2 = exp(theta[D + 1]), exp(theta[D + 2])
  scale_inputs(ws.X, n, D, theta, ws.XsT, n)
  build_kernel(ws, sf2, sn2)
  if not la.cholesky(ws.K, n, n) then return nil end
  local alpha = ws.alpha
  for i = 0, n - 1 do alpha[i] = ws.y[i] end
  la.solve_lower(ws.K, n, n, alpha)
  la.solve_lower_t(ws.K, n, n, alpha)
  local f = 0.5 * la.dot(ws.y, 0, alpha, 0, n) + 0.5 * la.logdet(ws.K, n, n) + 0.5 * n * LOG_2PI
  la.inverse_from_cholesky(ws.K, n, n, ws.Kinv)
  local g = likelihood_gradient(ws, sf2, sn2)
  f = f + prior_nll(theta, D, g)
  return f, g
end

-- The objective and its gradient for n points at theta (for tests).
function M.objective(X, y, n, D, theta)
  return objective(workspace(X, y, n, D), theta)
end

---------------------------------------------------------------------------
-- L-BFGS with box bounds (iterates projected on the box)
---------------------------------------------------------------------------

local MEMORY = 8
local FIRST_STEP = 0.25   -- largest coordinate change of a step without curvature memory
local GAIN_TOL = 1e-5     -- stop when a step gains less than this, relative

local function vdot(a, b)
  local s = 0
  for i = 1, #a do s = s + a[i] * b[i] end
  return s
end

local function project(x, lo, hi)
  for i = 1, #x do x[i] = min(max(x[i], lo[i]), hi[i]) end
  return x
end

-- A coordinate at a bound with the step pointing outward does not move.
local function free_direction(p, x, lo, hi)
  for i = 1, #p do
    if (x[i] <= lo[i] and p[i] < 0) or (x[i] >= hi[i] and p[i] > 0) then p[i] = 0 end
  end
  return p
end

-- -H g by the two-loop recursion (Nocedal and Wright, "Numerical
-- Optimization", 2nd ed., algorithm 7.4).
local function lbfgs_direction(g, mem)
  local q, a = {}, {}
  for i = 1, #g do q[i] = -g[i] end
  for k = #mem, 1, -1 do
    local m = mem[k]
    a[k] = m.rho * vdot(m.s, q)
    for i = 1, #q do q[i] = q[i] - a[k] * m.y[i] end
  end
  if #mem > 0 then
    local m = mem[#mem]
    local gamma = vdot(m.s, m.y) / vdot(m.y, m.y)
    for i = 1, #q do q[i] = q[i] * gamma end
  end
  for k = 1, #mem do
    local m = mem[k]
    local b = m.rho * vdot(m.y, q)
    for i = 1, #q do q[i] = q[i] + (a[k] - b) * m.s[i] end
  end
  return q
end

-- Backtracking from a step whose largest coordinate is at most 1 (a factor
-- e on the natural scale), or FIRST_STEP for a steepest-descent step, until
-- the Armijo condition holds.
local function line_search(f, x, fx, g, p, lo, hi, first)
  local pmax = 0
  for i = 1, #p do pmax = max(pmax, abs(p[i])) end
  local t = min(1, (first and FIRST_STEP or 1) / pmax)
  for _ = 1, 30 do
    local xn = {}
    for i = 1, #x do xn[i] = x[i] + t * p[i] end
    project(xn, lo, hi)
    local fn, gn = f(xn)
    local decrease = 0
    for i = 1, #x do decrease = decrease + g[i] * (xn[i] - x[i]) end
    if fn and fn <= fx + 1e-4 * decrease then return xn, fn, gn end
    t = t * 0.5
  end
  return nil
end

local function projected_gradient_norm(x, g, lo, hi)
  local s = 0
  for i = 1, #x do
    local gi = g[i]
    if (x[i] <= lo[i] and gi > 0) or (x[i] >= hi[i] and gi < 0) then gi = 0 end
    s = max(s, abs(gi))
  end
  return s
end

-- Minimizes f (returning value and gradient, or nil where undefined) over
-- the box [lo, hi] from x0. Returns the best point and value (nil, nil if f
-- is undefined at x0).
function M.minimize(f, x0, lo, hi, max_iter)
  local x = project({ unpack(x0) }, lo, hi)
  local fx, g = f(x)
  if not fx then return nil, nil end
  local mem = {}
  for _ = 1, max_iter do
    if projected_gradient_norm(x, g, lo, hi) < 1e-5 then break end
    local p = free_direction(lbfgs_direction(g, mem), x, lo, hi)
    if vdot(p, g) >= 0 then -- not a descent direction: restart from -g
      mem = {}
      p = free_direction(lbfgs_direction(g, mem), x, lo, hi)
    end
    local xn, fn, gn = line_search(f, x, fx, g, p, lo, hi, #mem == 0)
    if not xn then break end
    local s, yv = {}, {}
    for i = 1, #x do s[i], yv[i] = xn[i] - x[i], gn[i] - g[i] end
    local sy = vdot(s, yv)
    if sy > 1e-10 then
      mem[#mem + 1] = { s = s, y = yv, rho = 1 / sy }
      if #mem > MEMORY then table.remove(mem, 1) end
    end
    local gain = fx - fn
    x, fx, g = xn, fn, gn
    if gain < GAIN_TOL * (1 + abs(fx)) then break end
  end
  return x, fx
end

-- The MAP hyperparameters for n points. Starts from `warm` (the previous
-- fit, or nil) and, when there is no warm start or the data set is small,
-- also from the default; keeps the better. opts.max_iter bounds each run.
function M.fit(X, y, n, D, warm, opts)
  local ws = workspace(X, y, n, D)
  local f = function(theta) return objective(ws, theta) end
  local lo, hi = M.bounds(D)
  local max_iter = opts and opts.max_iter or 60
  local starts = { warm }
  if not warm or n <= 40 then starts[#starts + 1] = M.default_theta(D) end
  local best, best_f
  for _, start in ipairs(starts) do
    local theta, value = M.minimize(f, start, lo, hi, max_iter)
    if theta and (best_f == nil or value < best_f) then best, best_f = theta, value end
  end
  return best or project(M.default_theta(D), lo, hi)
end

---------------------------------------------------------------------------
-- The posterior
---------------------------------------------------------------------------

local Posterior = {}
local objects = { __index = Posterior } -- their metatable: not Posterior itself (sandbox.lua)

local MAX_JITTER_STEPS = 6
local PREDICT_CHUNK = 128   -- candidates per batch in predict, to bound memory

-- Kernel values between point x (scaled, as for sqdists) and the first
-- `count` points, into out[oi ..].
function Posterior:_kernel_row(xs, xi, step, count, out, oi)
  sqdists(self.XsT, self.cap, self.D, count, xs, xi, step, out, oi)
  local sf2 = self.sf2
  for j = 0, count - 1 do out[oi + j] = matern(out[oi + j], sf2) end
end

function Posterior:_factor()
  local cap, L, n, sf2 = self.cap, self.L, self.n, self.sf2
  triangle_sqdists(self.XsT, cap, self.D, n, L, cap)
  local i, j = 1, 0
  for _ = 1, n * (n - 1) / 2 do
    local at = i * cap + j
    L[at] = matern(L[at], sf2)
    j = j + 1
    if j == i then i, j = i + 1, 0 end
  end
  for d = 0, n - 1 do L[d * cap + d] = sf2 + self.sn2 end
  return la.cholesky(L, cap, n)
end

function Posterior:_solve_alpha()
  local alpha = self.alpha
  for i = 0, self.n - 1 do alpha[i] = self.y[i] end
  la.solve_lower(self.L, self.cap, self.n, alpha)
  la.solve_lower_t(self.L, self.cap, self.n, alpha)
end

-- The posterior for n points, with room for cap >= n points in all (for
-- add). When K is numerically singular, noise is added tenfold up to
-- MAX_JITTER_STEPS times.
function M.posterior(X, y, n, D, cap, theta)
  local self = setmetatable({
    n = n, D = D, cap = cap,
    sf2 = exp(theta[D + 1]), sn2 = exp(theta[D + 2]),
    inv_length = la.vector(D), XsT = la.vector(D * cap), y = la.vector(cap),
    L = la.vector(cap * cap), alpha = la.vector(cap), xs = la.vector(D),
  }, objects)
  for d = 0, D - 1 do self.inv_length[d] = exp(-theta[d + 1]) end
  scale_inputs(X, n, D, theta, self.XsT, cap)
  for i = 0, n - 1 do self.y[i] = y[i] end
  local jitter = M.BOUNDS.noise[1]
  for _ = 0, MAX_JITTER_STEPS do
    if self:_factor() then
      self:_solve_alpha()
      return self
    end
    self.sn2 = self.sn2 + jitter
    jitter = jitter * 10
  end
  error("optimizers.gp: the kernel matrix stays singular even with added noise", 2)
end

-- x (D inputs, 0-based) scaled into self.xs.
function Posterior:_scale(x)
  for d = 0, self.D - 1 do self.xs[d] = x[d] * self.inv_length[d] end
end

-- The posterior mean at x (a 0-based array of D inputs, like a row of X).
function Posterior:mean(x)
  self:_scale(x)
  local k = la.vector(self.n)
  self:_kernel_row(self.xs, 0, 1, self.n, k, 0)
  return la.dot(k, 0, self.alpha, 0, self.n)
end

-- Conditions on one more point (x a 0-based array of D inputs, value an
-- output). Returns false, changing nothing, when the capacity is used up or
-- the point makes K singular.
function Posterior:add(x, value)
  local n, cap, D = self.n, self.cap, self.D
  if n >= cap then return false end
  self:_scale(x)
  self:_kernel_row(self.xs, 0, 1, n, self.L, n * cap)
  self.L[n * cap + n] = self.sf2 + self.sn2
  if not la.cholesky_row(self.L, cap, n) then return false end
  for d = 0, D - 1 do self.XsT[d * cap + n] = self.xs[d] end
  self.y[n] = value
  self.n = n + 1
  self:_solve_alpha()
  return true
end

-- Mean and variance of the latent function at the m points in C (flat,
-- m rows of D inputs), written to mu[0..m-1] and var[0..m-1].
function Posterior:predict(C, m, mu, var)
  local n, cap, D = self.n, self.cap, self.D
  local chunk = min(m, PREDICT_CHUNK)
  local V, cs = la.vector(chunk * cap), la.vector(chunk * D)
  for first = 0, m - 1, chunk do
    local count = min(chunk, m - first)
    for c = 0, count - 1 do
      for d = 0, D - 1 do
        cs[c * D + d] = C[(first + c) * D + d] * self.inv_length[d]
      end
      self:_kernel_row(cs, c * D, 1, n, V, c * cap)
      mu[first + c] = la.dot(V, c * cap, self.alpha, 0, n)
    end
    la.solve_lower_rows(self.L, cap, n, V, cap, count)
    for c = 0, count - 1 do
      local v = self.sf2 - la.dot(V, c * cap, V, c * cap, n)
      var[first + c] = max(v, 1e-12 * self.sf2)
    end
  end
end

return M
