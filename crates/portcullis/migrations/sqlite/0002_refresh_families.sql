-- Refresh-token families are sessions of kind 'token'; each refresh moves to the next generation.
ALTER TABLE sessions ADD COLUMN refresh_generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN rotated_at INTEGER;
