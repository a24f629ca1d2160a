DROP INDEX posts_title_trgm;
DROP EXTENSION IF EXISTS pg_trgm;
