CREATE TABLE user_settings (
    user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    theme text NOT NULL DEFAULT 'light' CHECK (theme IN ('light', 'dark')),
    locale text NOT NULL DEFAULT E'en\u005fGB',
    notify boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE user_settings IS 'One row per user; created on first change.';
