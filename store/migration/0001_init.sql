-- 0001_init: the whole watchshare schema.
-- Times are INTEGER unix milliseconds (UTC); NULL (or 0 where NOT NULL) means unknown.
-- Forward-only: never edit this file once released; add 0002_... instead.

-- A single counter bumped by every write that changes whether or how a member
-- can be posted for, so in-memory caches can be validated with one cheap read.
CREATE TABLE change_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO change_version (id, version) VALUES (1, 0);

-- Member-owned settings; kept after a disconnect.
CREATE TABLE members (
    member_id       TEXT PRIMARY KEY,
    sharing_enabled INTEGER NOT NULL DEFAULT 1 CHECK (sharing_enabled IN (0, 1)),
    created_at      INTEGER NOT NULL
) WITHOUT ROWID;

-- Everything imported from Facebook about the member's account; deleted by a purge.
CREATE TABLE connections (
    member_id        TEXT PRIMARY KEY REFERENCES members (member_id) ON DELETE CASCADE,
    facebook_user_id TEXT NOT NULL UNIQUE,
    name             TEXT NOT NULL DEFAULT '',
    scopes_json      TEXT NOT NULL DEFAULT '[]',
    can_publish      INTEGER NOT NULL DEFAULT 0 CHECK (can_publish IN (0, 1)),
    token_ct         BLOB NOT NULL, -- AES-256-GCM, AAD "watchshare/token/v1|" || member_id
    token_expires_at INTEGER,
    status           TEXT NOT NULL CHECK (status IN ('connected', 'reconnect_required')),
    connected_at     INTEGER NOT NULL,
    consent_at       INTEGER,
    last_friend_sync INTEGER,
    next_friend_sync INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX connections_friend_sync ON connections (status, next_friend_sync);

-- Pending OAuth connect flows, keyed by sha256(state); single use, short-lived.
CREATE TABLE oauth_states (
    state_hash  TEXT PRIMARY KEY,
    member_id   TEXT NOT NULL,
    verifier_ct BLOB NOT NULL, -- AAD "watchshare/oauth-verifier/v1|" || state_hash
    return_to   TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX oauth_states_member ON oauth_states (member_id);
CREATE INDEX oauth_states_expires ON oauth_states (expires_at);

CREATE TABLE hidden_titles (
    member_id TEXT NOT NULL REFERENCES members (member_id) ON DELETE CASCADE,
    title_id  TEXT NOT NULL,
    hidden_at INTEGER NOT NULL,
    PRIMARY KEY (member_id, title_id)
) WITHOUT ROWID;

-- One row per post: 'pending' is the intent written before the Graph call,
-- 'posted' after it, 'deleting' while a delete_action outbox item is queued.
-- AUTOINCREMENT: an id is never reused, so a late CompleteShare of a purged
-- row can never land on somebody else's share.
CREATE TABLE shares (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    member_id    TEXT NOT NULL REFERENCES members (member_id) ON DELETE CASCADE,
    title_id     TEXT NOT NULL,
    title_name   TEXT NOT NULL DEFAULT '',
    title_url    TEXT NOT NULL DEFAULT '',
    title_type   TEXT NOT NULL DEFAULT '',
    session_id   TEXT NOT NULL DEFAULT '',
    event_id     TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'posted', 'deleting')),
    action_id    TEXT,
    attempted_at INTEGER NOT NULL,
    shared_at    INTEGER,
    UNIQUE (member_id, event_id)
);
-- At most one in-flight post per member and title.
CREATE UNIQUE INDEX shares_one_pending ON shares (member_id, title_id) WHERE status = 'pending';
CREATE INDEX shares_member_title ON shares (member_id, title_id);
CREATE INDEX shares_member_status_time ON shares (member_id, status, shared_at);

CREATE TABLE friends (
    member_id               TEXT NOT NULL REFERENCES members (member_id) ON DELETE CASCADE,
    friend_facebook_user_id TEXT NOT NULL,
    friend_name             TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (member_id, friend_facebook_user_id)
) WITHOUT ROWID;
CREATE INDEX friends_by_friend ON friends (friend_facebook_user_id);

-- Durable Facebook side effects (deletions, revocations), shared by all processes.
-- No foreign key: a revoke must outlive the member's rows.
CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT NOT NULL CHECK (kind IN ('delete_action', 'revoke')),
    member_id        TEXT NOT NULL,
    facebook_user_id TEXT NOT NULL DEFAULT '',
    action_id        TEXT NOT NULL DEFAULT '',
    share_id         INTEGER,
    token_ct         BLOB, -- only for items that outlive the connection; AAD "watchshare/outbox/v1|" || member_id
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL,
    next_attempt_at  INTEGER NOT NULL,
    expires_at       INTEGER
);
CREATE INDEX outbox_due ON outbox (next_attempt_at);
CREATE INDEX outbox_member ON outbox (member_id);
CREATE UNIQUE INDEX outbox_share ON outbox (share_id) WHERE share_id IS NOT NULL;

-- One row per purge; no personal data: member_ref is a keyed SHA-256 of the member id.
CREATE TABLE purge_audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    path        TEXT NOT NULL,
    member_ref  TEXT NOT NULL,
    counts_json TEXT NOT NULL
);
CREATE INDEX purge_audit_member ON purge_audit (member_ref);

-- Facebook data-deletion callbacks; the code is public, nothing links it to a member.
CREATE TABLE deletion_requests (
    code         TEXT PRIMARY KEY,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'complete')),
    requested_at INTEGER NOT NULL,
    completed_at INTEGER
) WITHOUT ROWID;
