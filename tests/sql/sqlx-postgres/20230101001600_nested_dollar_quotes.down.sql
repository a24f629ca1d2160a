DROP FUNCTION make_greeter(text);
