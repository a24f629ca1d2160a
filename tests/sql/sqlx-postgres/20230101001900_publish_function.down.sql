DROP FUNCTION publish(bigint);
