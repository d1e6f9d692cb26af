-- Sign-ins kept on the server, so a session can be ended: by signing out (that one),
-- by "sign out everywhere", a password change or disabling the account (all of them).
CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  REAL NOT NULL,
    expires_at  REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions(user_id);

-- A sign-in attempt is counted before its password is checked, and forgotten only if
-- the password was right: concurrent guesses cannot slip past the limit.
ALTER TABLE login_failures ADD COLUMN attempt TEXT NOT NULL DEFAULT '';
CREATE INDEX login_failures_attempt ON login_failures(attempt);
