"""The verification game off chain (docs/verification.md, "The game").

Pure cores: every move's arguments from a run's commitments and the job spec (:mod:`.proofs`),
the honest strategies that pick the next move from a dispute's public state (:mod:`.play`), and
what a challenger has seen of its provider, replayed from the dispute's calldata
(:mod:`.history`). At the edge: a player's SQLite record of its disputes (:mod:`.journal`) and
the driver that plays one dispute to its end over the chain (:mod:`.driver`, trio), used by the
node agent (the provider's side) and the verifier (the challenger's)."""
