-- Scenario `baseline`: GET /hello on the bare axum app (bench/baseline).
-- It goes through the same status-counting callbacks as the other scenarios,
-- so the cost of the Lua side of wrk is the same on both sides of a ratio.

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "lib/expect_200.lua")

wrk.method = "GET"
