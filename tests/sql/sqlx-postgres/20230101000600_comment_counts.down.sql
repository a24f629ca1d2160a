DROP TRIGGER comments_count ON comments;
DROP FUNCTION count_comments();
ALTER TABLE posts DROP COLUMN comment_count;
