DELETE FROM tags WHERE name IN ('rust; the language', 'sql $$ quoting', 'it''s fine', E'tab\there');
