CREATE TABLE posts (
    id bigserial PRIMARY KEY,
    author_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title text NOT NULL,
    body text NOT NULL DEFAULT '',
    status post_status NOT NULL DEFAULT 'draft',
    published_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER posts_touch BEFORE UPDATE ON posts FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE INDEX posts_by_author ON posts (author_id);
