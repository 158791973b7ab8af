-- The shape of one payment of one reseller, in plain SQL: lock one row,
-- update it, insert one row. Every client locks the same row (aid = 1), as
-- every payment of one reseller locks that reseller.
\set delta random(-5000, 5000)
BEGIN;
SELECT abalance FROM pgbench_accounts WHERE aid = 1 FOR UPDATE;
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = 1;
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime)
    VALUES (1, 1, 1, :delta, CURRENT_TIMESTAMP);
END;
