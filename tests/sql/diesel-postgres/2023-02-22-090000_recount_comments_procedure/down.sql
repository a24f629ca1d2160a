DROP PROCEDURE recount_comments();
