-- Scenario `jwt_check`: GET /api/me with `Authorization: Bearer <access token>`.
-- bench/run.sh logs in through POST /auth/login once and passes the access token
-- in the environment variable BENCH_ACCESS_TOKEN.

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "lib/expect_200.lua")

local token = os.getenv("BENCH_ACCESS_TOKEN")
if token == nil or token == "" then
   error("BENCH_ACCESS_TOKEN is not set: run this script through bench/run.sh")
end

wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. token
