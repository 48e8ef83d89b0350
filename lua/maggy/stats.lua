-- Small statistics for reports: mean, standard deviation, Student's t
-- quantiles and confidence intervals (of a mean, and of a difference of two
-- means by Welch's method).

local M = {}

local sqrt, floor = math.sqrt, math.floor

-- Two-sided 95% quantiles of Student's t, t(0.975, df), df = 1..30.
local T975 = {
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
  2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
  2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
}

-- t(0.975, df) for df >= 1 (fractional df rounds down, the safe side);
-- beyond 30, interpolated in 1/df towards the normal 1.960.
function M.t975(df)
  if df < 1 then return nil end
  df = floor(df)
  if df <= 30 then return T975[df] end
  return 1.960 + (T975[30] - 1.960) * 30 / df
end

-- Mean and sample standard deviation (nil when n < 2) of a list of numbers.
function M.mean_sd(xs)
  local n, sum = #xs, 0
  if n == 0 then return nil, nil end
  for _, x in ipairs(xs) do sum = sum + x end
  local mean = sum / n
  if n < 2 then return mean, nil end
  local ss = 0
  for _, x in ipairs(xs) do ss = ss + (x - mean) ^ 2 end
  return mean, sqrt(ss / (n - 1))
end

-- Half-width of the 95% confidence interval of a mean (nil when n < 2).
function M.ci95(sd, n)
  if not sd or n < 2 then return nil end
  return M.t975(n - 1) * sd / sqrt(n)
end

-- Half-width of the 95% confidence interval of mean(a) - mean(b), Welch's
-- method (unequal variances); nil unless both have n >= 2.
function M.welch_ci95(sd_a, n_a, sd_b, n_b)
  if not sd_a or not sd_b or n_a < 2 or n_b < 2 then return nil end
  local va, vb = sd_a ^ 2 / n_a, sd_b ^ 2 / n_b
  local se2 = va + vb
  if se2 == 0 then return 0 end
  local df = se2 ^ 2 / (va ^ 2 / (n_a - 1) + vb ^ 2 / (n_b - 1))
  return M.t975(df) * sqrt(se2)
end

return M
