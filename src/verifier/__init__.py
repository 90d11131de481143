"""The GCX verifier, run by challengers: capacity audits (``gcx verifier audit``, built on
:mod:`gcx.audit`); re-executing jobs and the verification game come with later issues (DESIGN §6)."""
