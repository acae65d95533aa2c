"""Station controller software and simulator: a dual-connector CCS + CHAdeMO DC station."""
