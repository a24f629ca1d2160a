INSERT INTO users (email, display_name) VALUES ('admin@example.com', 'Admin');
INSERT INTO posts (author_id, title, body, status)
    SELECT id, 'Hello; world', 'First post with a $$ in it', 'draft' FROM users WHERE email = 'admin@example.com';
