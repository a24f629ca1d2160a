-- migrations-rs: depends_on = [20240601000000], risk = [data]
-- Runs after the Rust migration that creates the table: one graph for both.
INSERT INTO embedded_notes (id, body) VALUES (1, 'from SQL; with a semicolon');
INSERT INTO embedded_notes (id, body) VALUES (2, 'and a second statement');
