-- A standard-SQL body: BEGIN ATOMIC ... END holds statements of its own.
CREATE PROCEDURE recount_comments() LANGUAGE sql BEGIN ATOMIC
    UPDATE posts SET comment_count = (SELECT count(*) FROM comments c WHERE c.post_id = posts.id);
    DELETE FROM audit_log WHERE at < now() - interval '90 days';
END;
