CREATE TYPE post_status AS ENUM ('draft', 'published');
