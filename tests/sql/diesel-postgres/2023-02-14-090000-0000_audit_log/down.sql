DROP TRIGGER users_audit ON users;
DROP FUNCTION audit_row();
DROP TABLE audit_log;
