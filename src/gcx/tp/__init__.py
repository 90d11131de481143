"""GCX-TP: deterministic tensor programs, their executors and their commitments.

``gcx.tp.commit`` commits a program's tensors and op results to position-binding SHA-256 Merkle
roots and makes and checks the row, element and op proofs of the verification game
(docs/gcx-tp.md, "Commitments").
"""
