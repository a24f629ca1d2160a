CREATE FUNCTION publish(post bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE posts SET status = 'published', published_at = coalesce(published_at, now()) WHERE id = post;
    REFRESH MATERIALIZED VIEW author_stats;
END;
$$;
