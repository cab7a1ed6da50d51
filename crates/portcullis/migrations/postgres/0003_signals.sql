-- Signals: what one process (the CLI, another instance) asks every running server to act on
-- within a second: drop an account's cached sessions, lift its lockout. Rows are swept after a
-- day; `user_id` has no foreign key, so a deleted account's signal is still delivered.
CREATE TABLE signals (
    seq     BIGSERIAL PRIMARY KEY,
    kind    TEXT NOT NULL,
    user_id UUID,
    at_ms   BIGINT NOT NULL
);

CREATE INDEX signals_at ON signals (at_ms);
