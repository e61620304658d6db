-- The load-run questions across a campaign, over the views sessions, concurrency and
-- rtp_streams (each with its `capture` column). Written in the SQL that Spark SQL and
-- DuckDB both run: spark/teardown_campaign.py prints them with Spark, scripts/campaign.sh
-- with DuckDB. Each query starts at a `-- name:` line.

-- name: sessions and abnormal share per capture (in the order the runs began)
SELECT capture,
       count(*) AS sessions,
       count(CASE WHEN abnormal THEN 1 END) AS abnormal,
       round(100.0 * count(CASE WHEN abnormal THEN 1 END) / count(*), 1) AS abnormal_pct,
       min(start_ts) AS first_start
FROM sessions
GROUP BY capture
ORDER BY first_start, capture;

-- name: concurrency at the first server-initiated teardown per capture (sessions open just before it, itself included)
WITH ranked AS (
  SELECT capture, session_id, verdict, close_code, teardown_start_ts,
         row_number() OVER (PARTITION BY capture ORDER BY teardown_start_ts, session_id) AS rn
  FROM sessions
  WHERE teardown_initiator = 'server'
)
SELECT f.capture, f.session_id, f.verdict, f.close_code, f.teardown_start_ts,
       max_by(c.open_sessions, c.ts) AS open_sessions
FROM ranked f
LEFT JOIN concurrency c ON c.capture = f.capture AND c.ts < f.teardown_start_ts
WHERE f.rn = 1
GROUP BY f.capture, f.session_id, f.verdict, f.close_code, f.teardown_start_ts
ORDER BY f.capture;

-- name: established sessions on the server at its drops per capture (the threshold: the fewest; issue 14)
SELECT capture, server_ip, server_port,
       count(*) AS drops,
       min(established_at_teardown) AS threshold,
       max(established_at_teardown) AS most
FROM sessions
WHERE teardown_initiator = 'server' AND abnormal
GROUP BY capture, server_ip, server_port
ORDER BY capture, server_ip, server_port;

-- name: verdict counts over time (per minute in which the sessions began, UTC)
SELECT date_trunc('minute', start_ts) AS minute,
       verdict,
       count(*) AS sessions,
       count(DISTINCT capture) AS captures
FROM sessions
GROUP BY date_trunc('minute', start_ts), verdict
ORDER BY minute, sessions DESC, verdict;

-- name: RTP loss per capture (RFC 3550 expected and lost packets)
SELECT capture,
       count(*) AS streams,
       sum(packets) AS packets,
       sum(expected) AS expected,
       sum(lost) AS lost,
       round(100.0 * sum(lost) / nullif(sum(expected), 0), 2) AS loss_pct,
       count(session_id) AS joined_streams
FROM rtp_streams
GROUP BY capture
ORDER BY capture;
