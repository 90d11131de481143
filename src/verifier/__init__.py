"""The GCX verifier, run by challengers: re-executes jobs and plays the verification game
(DESIGN §6). Empty until the jobs and the game land (issues 12–14)."""
