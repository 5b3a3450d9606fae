-- wrk script: point lookups on random keys of a view (bench/view_lookup.sh).
-- Keys are k00000 .. k(N-1) as written by tests/integration/viewdb.py.
local n = tonumber(os.getenv("VIEW_ROWS") or "100000")
local view = os.getenv("VIEW_NAME") or "bench"

function init(args)
    math.randomseed(os.time() + (tonumber(tostring({}):sub(8), 16) or 0))
end

request = function()
    return wrk.format("GET", string.format("/v1/views/%s/k%05d", view, math.random(0, n - 1)))
end

-- Count non-200 answers, so a benchmark of 404s cannot pass for lookups.
local bad = 0
response = function(status, headers, body)
    if status ~= 200 then
        bad = bad + 1
    end
end

done = function(summary, latency, requests)
    local s = summary.duration / 1e6
    io.write(string.format("lookups/s %.0f\n", summary.requests / s))
    for _, p in ipairs({50, 90, 99, 99.9}) do
        io.write(string.format("p%g_ms %.3f\n", p, latency:percentile(p) / 1000))
    end
    io.write(string.format("non_2xx %d errors %d\n", summary.errors.status,
        summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
