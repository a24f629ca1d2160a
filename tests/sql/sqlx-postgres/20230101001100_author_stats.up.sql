CREATE MATERIALIZED VIEW author_stats AS
    SELECT author_id, count(*) AS posts, max(published_at) AS last_published
    FROM posts GROUP BY author_id;
CREATE UNIQUE INDEX author_stats_by_author ON author_stats (author_id);
