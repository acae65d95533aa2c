"""Pure domain logic: dataclasses and functions, no I/O, no clock (time is passed in)."""
