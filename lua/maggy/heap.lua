-- A binary heap in a plain array: heap[1] is the entry that comes first under
-- `first(a, b)` (true when a goes before b). push and pop in O(log n), the
-- top is heap[1] and the size #heap.
--
--   local heap = require "maggy.heap"
--   local h = {}
--   heap.push(h, lt, 3); heap.push(h, lt, 1)
--   h[1] --> 1      heap.pop(h, lt) --> 1      h[1] --> 3
--
-- And the k best of a growing set kept apart from the rest, in two heaps
-- (a percentile, ASHA's top 1/eta of a rung):
--
--   local s = heap.split(gt)            -- larger is better
--   heap.split_add(s, x, k)             -- then s.top holds the k best
--   s.top[1]: the worst of the k best   s.rest[1]: the best of the rest

local M = {}

local floor = math.floor

function M.push(heap, first, x)
  local i = #heap + 1
  heap[i] = x
  while i > 1 do
    local parent = floor(i / 2)
    if not first(heap[i], heap[parent]) then break end
    heap[i], heap[parent] = heap[parent], heap[i]
    i = parent
  end
end

-- Removes and returns the top (nil when empty).
function M.pop(heap, first)
  local n = #heap
  if n == 0 then return nil end
  local top = heap[1]
  heap[1] = heap[n]
  heap[n] = nil
  n = n - 1
  local i = 1
  while true do
    local l, r, m = 2 * i, 2 * i + 1, i
    if l <= n and first(heap[l], heap[m]) then m = l end
    if r <= n and first(heap[r], heap[m]) then m = r end
    if m == i then return top end
    heap[i], heap[m] = heap[m], heap[i]
    i = m
  end
end

-- An empty split under `better(a, b)` (true when a is better than b).
function M.split(better)
  return { top = {}, rest = {}, better = better, worse = function(a, b) return better(b, a) end }
end

-- Adds x, then moves entries between the heaps until top holds the k best
-- (k counts x: at most #top + #rest).
function M.split_add(s, x, k)
  local top, rest = s.top, s.rest
  if top[1] ~= nil and not s.better(top[1], x) then
    M.push(top, s.worse, x)
  else
    M.push(rest, s.better, x)
  end
  while #top > k do M.push(rest, s.better, M.pop(top, s.worse)) end
  while #top < k do M.push(top, s.worse, M.pop(rest, s.better)) end
end

return M
