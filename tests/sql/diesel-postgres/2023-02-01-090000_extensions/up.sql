-- Extensions the schema relies on; trusted, so a database owner can create them.
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE EXTENSION IF NOT EXISTS citext;
