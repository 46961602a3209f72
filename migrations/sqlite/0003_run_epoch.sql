-- Durable resume: each executor that claims a run bumps its epoch; events and state writes
-- carry the epoch they were made under and are refused once a newer executor claimed the run
-- (a fencing token, so a stalled executor cannot write after its lease was taken over).
ALTER TABLE runs ADD COLUMN executor_epoch INTEGER NOT NULL DEFAULT 0;
