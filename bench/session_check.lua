-- Scenario `session_check`: GET /api/data with a logged-in session cookie.
-- bench/run.sh logs in once and passes the cookie value in the environment
-- variable BENCH_SESSION_COOKIE (the value of `portcullis_session`).

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "lib/expect_200.lua")

local session = os.getenv("BENCH_SESSION_COOKIE")
if session == nil or session == "" then
   error("BENCH_SESSION_COOKIE is not set: run this script through bench/run.sh")
end

wrk.method = "GET"
wrk.headers["Cookie"] = "portcullis_session=" .. session
