-- Session protection: a hash of the user agent and address prefix seen at login.
ALTER TABLE sessions ADD COLUMN fingerprint TEXT;

-- Roles grant permissions; users hold roles by name (user_roles).
CREATE TABLE roles (
    name        TEXT PRIMARY KEY NOT NULL,
    description TEXT,
    created_at  INTEGER NOT NULL
);

CREATE TABLE role_permissions (
    role       TEXT NOT NULL REFERENCES roles(name) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    PRIMARY KEY (role, permission)
);

INSERT INTO roles (name, description, created_at)
VALUES ('admin', 'Manages accounts, roles and sessions; reads the audit log', 0);

-- Remember-me series: the selector stays, the validator rotates; only validator hashes are kept.
CREATE TABLE remember_tokens (
    selector       TEXT PRIMARY KEY NOT NULL,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    validator_hash BLOB NOT NULL,
    previous_hash  BLOB,
    rotated_at     INTEGER,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
);

CREATE INDEX remember_user ON remember_tokens(user_id);

-- The audit log outlives the accounts it mentions: no foreign keys.
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    event      TEXT NOT NULL,
    user_id    TEXT,
    username   TEXT,
    session_id TEXT,
    ip         TEXT,
    user_agent TEXT,
    detail     TEXT
);

CREATE INDEX audit_at ON audit_log(at);
CREATE INDEX audit_user ON audit_log(user_id, id);
CREATE INDEX audit_username ON audit_log(username COLLATE NOCASE, id);
CREATE INDEX audit_event ON audit_log(event, id);
