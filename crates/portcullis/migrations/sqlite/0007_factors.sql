-- Second factors. A TOTP seed is kept sealed (XChaCha20-Poly1305 under the server's sealing
-- key ring, bound to the account): a dump of this table reveals no seed. `last_step` is the
-- last RFC 6238 time step accepted, so no code is accepted twice. A seed is pending until a
-- code confirms it (`confirmed_at`). Recovery codes are kept as SHA-256 hashes (they carry
-- at least 120 bits), each usable once.
CREATE TABLE totp_factors (
    user_id      TEXT PRIMARY KEY NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    sealed       BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    confirmed_at INTEGER,
    last_step    INTEGER
);

CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash  BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    used_at    INTEGER,
    PRIMARY KEY (user_id, code_hash)
);
