/* A function that builds another function: /* nested comments */ and nested dollar quotes. */
CREATE FUNCTION make_greeter(greeting text) RETURNS void AS $outer$
BEGIN
    EXECUTE format($inner$
        CREATE OR REPLACE FUNCTION greet(who text) RETURNS text AS $g$
            SELECT %L || ', ' || who || ';'
        $g$ LANGUAGE sql
    $inner$, greeting);
END;
$outer$ LANGUAGE plpgsql;
