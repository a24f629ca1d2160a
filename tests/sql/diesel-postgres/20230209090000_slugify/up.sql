-- A SQL function with a tagged dollar quote that holds `$$` and a `;`.
CREATE FUNCTION slugify(input text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT
AS $fn$
    SELECT trim(both '-' from regexp_replace(lower(input), '[^a-z0-9]+', '-', 'g')) -- never $$; here
$fn$;
