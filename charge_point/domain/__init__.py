"""Pure station logic: connector state machine, power sharing, battery, CHAdeMO frames."""
