-- wrk -s bench/wrk_report.lua: plain GETs; prints one JSON line with rate and percentiles at the end.
function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local non2xx = summary.errors.status
  local errs = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    '{"wrk": true, "requests": %d, "seconds": %.3f, "per_s": %.1f, "non_2xx": %d, "socket_errors": %d, ' ..
    '"latency_ms": {"mean": %.3f, "p50": %.3f, "p90": %.3f, "p95": %.3f, "p99": %.3f, "max": %.3f}}\n',
    summary.requests, secs, (summary.requests - non2xx) / secs, non2xx, errs,
    latency.mean / 1000, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
