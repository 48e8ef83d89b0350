-- Dense linear algebra for the Gaussian-process optimizer (gp.lua): Cholesky
-- factorization, triangular solves and the inverse from a Cholesky factor.
--
-- Matrices are flat, row-major, 0-based FFI arrays of doubles with a row
-- stride `ld` (the leading dimension, usually the capacity the caller
-- allocated): entry (i, j) is a[i * ld + j]. Only the lower triangle of a
-- symmetric matrix is read, so callers may keep other data above the diagonal.
-- Vectors are 0-based FFI arrays too.
--
-- Everything is written as dot products over contiguous memory with several
-- partial sums, the shape LuaJIT compiles into tight machine loops; a
-- 500 x 500 Cholesky takes a few tens of milliseconds.
--
-- Reference: Golub and Van Loan, "Matrix Computations", 4th ed., 2013,
-- section 4.2 (Cholesky) and 3.1 (triangular systems).

local ffi = require "ffi"

local sqrt = math.sqrt

local M = {}

-- A zero-filled array of n doubles.
function M.vector(n)
  return ffi.new("double[?]", n)
end

-- sum over k in [0, len) of a[ai + k] * b[bi + k]. A numeric for loop keeps
-- the index an integer in the compiled trace (twice as fast as a while loop).
local function dot(a, ai, b, bi, len)
  local s0, s1, s2, s3 = 0, 0, 0, 0
  local stop = len - 4
  for k = 0, stop, 4 do
    local p, q = ai + k, bi + k
    s0 = s0 + a[p] * b[q]
    s1 = s1 + a[p + 1] * b[q + 1]
    s2 = s2 + a[p + 2] * b[q + 2]
    s3 = s3 + a[p + 3] * b[q + 3]
  end
  for k = stop < 0 and 0 or stop - stop % 4 + 4, len - 1 do
    s0 = s0 + a[ai + k] * b[bi + k]
  end
  return (s0 + s1) + (s2 + s3)
end
M.dot = dot

-- Row i of the Cholesky factor, in place, once rows 0..i-1 are done: the
-- lower triangle of row i holds the matrix's row on entry and L's on return.
-- Also how a factor grows by one row when a point is added to a GP.
-- Returns false when the matrix is not (numerically) positive definite.
function M.cholesky_row(a, ld, i)
  local ri = i * ld
  for j = 0, i - 1 do
    local rj = j * ld
    a[ri + j] = (a[ri + j] - dot(a, ri, a, rj, j)) / a[rj + j]
  end
  local d = a[ri + i] - dot(a, ri, a, ri, i)
  if not (d > 0) then return false end
  a[ri + i] = sqrt(d)
  return true
end

-- A = L L^T in place on the lower triangle of the n x n matrix a.
-- Returns true, or false and the row where a pivot was not positive.
function M.cholesky(a, ld, n)
  for i = 0, n - 1 do
    if not M.cholesky_row(a, ld, i) then return false, i end
  end
  return true
end

-- Solves L x = b in place (x overwrites b) for the lower factor L.
function M.solve_lower(L, ld, n, b)
  for i = 0, n - 1 do
    local ri = i * ld
    b[i] = (b[i] - dot(L, ri, b, 0, i)) / L[ri + i]
  end
end

-- Solves L^T x = b in place. Column-oriented, so that it reads L by rows.
function M.solve_lower_t(L, ld, n, b)
  for i = n - 1, 0, -1 do
    local ri = i * ld
    local xi = b[i] / L[ri + i]
    b[i] = xi
    for k = 0, i - 1 do
      b[k] = b[k] - L[ri + k] * xi
    end
  end
end

-- Solves L x = b for four right-hand sides at once, each in place: one pass
-- over L instead of four, and four independent sums per step.
local function solve_lower4(L, ld, n, v0, v1, v2, v3)
  for i = 0, n - 1 do
    local ri = i * ld
    local s0, s1, s2, s3 = v0[i], v1[i], v2[i], v3[i]
    for k = 0, i - 1 do
      local l = L[ri + k]
      s0 = s0 - l * v0[k]
      s1 = s1 - l * v1[k]
      s2 = s2 - l * v2[k]
      s3 = s3 - l * v3[k]
    end
    local d = L[ri + i]
    v0[i], v1[i], v2[i], v3[i] = s0 / d, s1 / d, s2 / d, s3 / d
  end
end

-- Solves L x = b in place for the m right-hand sides stored as the rows of
-- V (row stride vld): the batch form of solve_lower.
function M.solve_lower_rows(L, ld, n, V, vld, m)
  local c = 0
  while c + 4 <= m do
    local v0 = V + c * vld
    solve_lower4(L, ld, n, v0, v0 + vld, v0 + 2 * vld, v0 + 3 * vld)
    c = c + 4
  end
  while c < m do
    M.solve_lower(L, ld, n, V + c * vld)
    c = c + 1
  end
end

-- log det(A) for A = L L^T.
function M.logdet(L, ld, n)
  local s = 0
  for i = 0, n - 1 do s = s + math.log(L[i * ld + i]) end
  return 2 * s
end

-- The lower triangle of A^-1 from A = L L^T, into `out`, using `work` (both
-- n x n with stride ld) for U = L^-T: row j of U is L^-1 e_j, and
-- (A^-1)(i, j) = sum over k >= max(i, j) of U(i, k) U(j, k). Both steps are
-- dot products of contiguous rows; n^3 / 3 multiply-adds in all.
function M.inverse_from_cholesky(L, ld, n, out, work)
  local U = work
  for j = 0, n - 1 do
    local rj = j * ld
    U[rj + j] = 1 / L[rj + j]
    for i = j + 1, n - 1 do
      local ri = i * ld
      U[rj + i] = -dot(L, ri + j, U, rj + j, i - j) / L[ri + i]
    end
  end
  for i = 0, n - 1 do
    local ri = i * ld
    for j = 0, i do
      out[ri + j] = dot(U, ri + i, U, j * ld + i, n - i)
    end
  end
end

return M
