-- Preflight ("ghost") runs and live runs that follow a preflight's plan.
ALTER TABLE runs ADD COLUMN mode text NOT NULL DEFAULT 'live' CHECK (mode IN ('live', 'preflight'));
ALTER TABLE runs ADD COLUMN preflight_id uuid REFERENCES runs(id) ON DELETE SET NULL;
