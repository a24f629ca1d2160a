DROP INDEX posts_by_slug;
ALTER TABLE posts DROP COLUMN slug;
