ALTER TABLE posts ADD COLUMN slug text;
UPDATE posts SET slug = slugify(title) WHERE slug IS NULL;
CREATE UNIQUE INDEX posts_by_slug ON posts (slug);
