-- Second factors. A TOTP seed is kept sealed (XChaCha20-Poly1305 under the server's sealing
-- key ring, bound to the account): a dump of this table reveals no seed. `last_step` is the
-- last RFC 6238 time step accepted, so no code is accepted twice. A seed is pending until a
-- code confirms it (`confirmed_at`). Recovery codes are kept as SHA-256 hashes (they carry
-- at least 120 bits), each usable once.
CREATE TABLE totp_factors (
    user_id      UUID PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    sealed       BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    confirmed_at BIGINT,
    last_step    BIGINT
);

CREATE TABLE recovery_codes (
    user_id    UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash  BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (user_id, code_hash)
);
