-- Dense linear algebra for the Gaussian-process optimizer (gp.lua): Cholesky
-- factorization, triangular solves and the inverse from a Cholesky factor,
-- done by the system's BLAS and LAPACK (OpenBLAS or the reference ones,
-- Debian's liblapack3) through the FFI.
--
-- Matrices are flat, row-major, 0-based FFI arrays of doubles with a row
-- stride `ld` (the leading dimension, usually the capacity the caller
-- allocated): entry (i, j) is a[i * ld + j]. Only the lower triangle of a
-- symmetric matrix is read or written, so callers may keep other data above
-- the diagonal. Vectors are 0-based FFI arrays too.
--
-- LAPACK is column-major: read that way, our row-major lower triangle is the
-- upper triangle U = L^T of the same matrix, so every call below asks for
-- 'U' and transposes where L is meant. The O(n^3) loops run as machine code
-- whatever the trace compiler decides; written in Lua they ran 25 times
-- slower in some runs, when the compiler gave up on a short hot loop (its
-- retries are randomized, so the same seeded run was fast once and slow
-- another time).
--
-- Reference: Golub and Van Loan, "Matrix Computations", 4th ed., 2013,
-- section 4.2 (Cholesky) and 3.1 (triangular systems).

local ffi = require "ffi"

ffi.cdef [[
int setenv(const char *name, const char *value, int overwrite);
double ddot_(const int *n, const double *x, const int *incx, const double *y, const int *incy);
void dtrsv_(const char *uplo, const char *trans, const char *diag, const int *n,
            const double *a, const int *lda, double *x, const int *incx,
            size_t uplo_len, size_t trans_len, size_t diag_len);
void dtrsm_(const char *side, const char *uplo, const char *transa, const char *diag,
            const int *m, const int *n, const double *alpha, const double *a, const int *lda,
            double *b, const int *ldb,
            size_t side_len, size_t uplo_len, size_t transa_len, size_t diag_len);
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info, size_t uplo_len);
void dpotri_(const char *uplo, const int *n, double *a, const int *lda, int *info, size_t uplo_len);
]]

-- One thread: the engine's Lua thread is one core among the executors', and
-- these matrices are small. Set before OpenBLAS starts, so it starts no
-- thread pool (a pool would also not survive the engine's forks).
ffi.C.setenv("OPENBLAS_NUM_THREADS", "1", 0)

local function load_lapack()
  local ok, lib = pcall(ffi.load, "liblapack.so.3")
  if ok then return lib end
  error("the GP optimizer needs LAPACK (Debian: apt-get install liblapack3; " ..
    "scripts/setup installs it): " .. tostring(lib), 0)
end
local lapack = load_lapack()

local sqrt = math.sqrt

local M = {}

-- Arguments by reference, as Fortran takes them. Reused: the module runs on
-- one thread.
local ints = ffi.new("int[4]")
local ONE_INT, INFO = ffi.new("int[1]", 1), ffi.new("int[1]")
local ONE = ffi.new("double[1]", 1)

local function int(k, v)
  ints[k] = v
  return ints + k
end

-- A zero-filled array of n doubles.
function M.vector(n)
  return ffi.new("double[?]", n)
end

-- sum over k in [0, len) of a[ai + k] * b[bi + k].
local function dot(a, ai, b, bi, len)
  if len <= 0 then return 0 end
  return lapack.ddot_(int(0, len), a + ai, ONE_INT, b + bi, ONE_INT)
end
M.dot = dot

-- Solves L x = b (trans "T": U^T x = b) or L^T x = b (trans "N") in place,
-- for the first n rows of L.
local function trsv(L, ld, n, x, trans)
  if n <= 0 then return end
  lapack.dtrsv_("U", trans, "N", int(0, n), L, int(1, ld), x, ONE_INT, 1, 1, 1)
end

-- Row i of the Cholesky factor, in place, once rows 0..i-1 are done: the
-- lower triangle of row i holds the matrix's row on entry and L's on return.
-- Also how a factor grows by one row when a point is added to a GP.
-- Returns false when the matrix is not (numerically) positive definite.
function M.cholesky_row(a, ld, i)
  local row = a + i * ld
  trsv(a, ld, i, row, "T")
  local d = row[i] - dot(row, 0, row, 0, i)
  if not (d > 0) then return false end
  row[i] = sqrt(d)
  return true
end

-- A = L L^T in place on the lower triangle of the n x n matrix a.
-- Returns true, or false and the row where a pivot was not positive.
function M.cholesky(a, ld, n)
  if n <= 0 then return true end
  lapack.dpotrf_("U", int(0, n), a, int(1, ld), INFO, 1)
  if INFO[0] > 0 then return false, INFO[0] - 1 end
  assert(INFO[0] == 0, "dpotrf: bad argument")
  return true
end

-- Solves L x = b in place (x overwrites b) for the lower factor L.
function M.solve_lower(L, ld, n, b)
  trsv(L, ld, n, b, "T")
end

-- Solves L^T x = b in place.
function M.solve_lower_t(L, ld, n, b)
  trsv(L, ld, n, b, "N")
end

-- Solves L x = b in place for the m right-hand sides stored as the rows of
-- V (row stride vld): the batch form of solve_lower.
function M.solve_lower_rows(L, ld, n, V, vld, m)
  if n <= 0 or m <= 0 then return end
  lapack.dtrsm_("L", "U", "T", "N", int(0, n), int(1, m), ONE, L, int(2, ld), V, int(3, vld), 1, 1, 1, 1)
end

-- log det(A) for A = L L^T.
function M.logdet(L, ld, n)
  local s = 0
  for i = 0, n - 1 do s = s + math.log(L[i * ld + i]) end
  return 2 * s
end

-- The lower triangle of A^-1 from A = L L^T, into `out` (n x n, stride ld).
function M.inverse_from_cholesky(L, ld, n, out)
  if n <= 0 then return end
  for i = 0, n - 1 do ffi.copy(out + i * ld, L + i * ld, (i + 1) * 8) end
  lapack.dpotri_("U", int(0, n), out, int(1, ld), INFO, 1)
  assert(INFO[0] == 0, "dpotri: singular factor")
end

return M
