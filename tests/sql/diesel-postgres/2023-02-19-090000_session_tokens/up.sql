CREATE TABLE session_tokens (
    token bytea PRIMARY KEY DEFAULT gen_random_bytes(32),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL DEFAULT now() + interval '30 days'
);
CREATE INDEX session_tokens_by_user ON session_tokens (user_id);
