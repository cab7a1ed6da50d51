-- Login challenges: a first step (a password) proven, a further factor still to come. The client
-- holds an opaque 256-bit token; only its SHA-256 is kept. Single use, short-lived, attempt
-- limited, and bound to the client that began it (`binding`, a digest of its user agent and
-- address prefix). `state` is what the first step asked for (remember-me, where to go next).
CREATE TABLE challenges (
    id_hash    BYTEA PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    binding    BYTEA NOT NULL,
    state      TEXT,
    attempts   BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX challenges_expires ON challenges (expires_at);
