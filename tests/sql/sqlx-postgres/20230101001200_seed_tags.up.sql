-- Strings that look like statement ends and dollar quotes.
INSERT INTO tags (name) VALUES ('rust; the language'), ('sql $$ quoting'), ('it''s fine'), (E'tab\there');
