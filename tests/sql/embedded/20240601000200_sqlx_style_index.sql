-- migrations-rs: depends_on = [20240601000100], risk = [index]
CREATE INDEX embedded_notes_by_body ON embedded_notes (body);
