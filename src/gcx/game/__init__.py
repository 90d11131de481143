"""The verification game's pure cores (docs/verification.md, "The game"): every move's arguments
from a run's commitments and the job spec (:mod:`.proofs`), and the honest strategies that pick
the next move from a dispute's public state (:mod:`.play`). No I/O: daemons read the chain and
send what these return."""
