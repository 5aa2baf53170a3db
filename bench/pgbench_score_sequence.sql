-- Diagnosis variant of pgbench_score.sql: the same transaction, but `seq` comes from a
-- PostgreSQL sequence (no row lock) instead of the single board_state row that every
-- transaction updates. The difference to pgbench_score.sql is the cost of that hot row.
\set uid random(1, :nusers)
BEGIN;
UPDATE users SET score = score + 10, score_updated_at = now(), rank_version = rank_version + 1,
    updated_at = now() WHERE id = :uid
    RETURNING score, rank_version, is_banned, is_hidden, username, display_name;
INSERT INTO score_events (user_id, action_id, action_type, points, score_after, source, ip, user_agent, created_at)
    VALUES (:uid, gen_random_uuid()::text, 'complete_task', 10, 0, 'action', '127.0.0.1', 'pgbench', now());
INSERT INTO audit_log (actor_user_id, subject_user_id, event, outcome, reason_code, ip, user_agent, details, created_at)
    VALUES (:uid, :uid, 'score.accepted', 'success', NULL, '127.0.0.1', 'pgbench',
            '{"action_id": "x", "points": 10, "score_after": 0}', now());
SELECT nextval('bench_board_seq');
END;
