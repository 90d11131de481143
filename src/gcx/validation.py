"""Validation failures of pydantic models as messages that name the bad key (pure: no I/O)."""

from __future__ import annotations

import difflib
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

__all__ = ["describe_validation_error"]


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The pydantic model found by walking ``loc`` through nested model fields and dict values."""
    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            if not isinstance(part, str) or part not in current.model_fields:
                return None
            current = current.model_fields[part].annotation
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]  # ``part`` is a key of the table
        else:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def describe_validation_error(err: ValidationError, model: type[BaseModel], source: str) -> str:
    """One line per problem: ``source: key.path: what is wrong`` (with a suggestion for typos)."""
    lines = []
    for problem in err.errors():
        loc = tuple(problem["loc"])
        key = ".".join(str(p) for p in loc) or "(top level)"
        if problem["type"] == "extra_forbidden":
            parent = _model_at(model, loc[:-1])
            hint = ""
            if parent is not None:
                close = difflib.get_close_matches(str(loc[-1]), list(parent.model_fields), n=1)
                hint = f" (did you mean {'.'.join([*map(str, loc[:-1]), close[0]])!r}?)" if close else ""
            lines.append(f"{source}: unknown key {key!r}{hint}")
        else:
            got = problem.get("input")
            shown = "" if isinstance(got, dict) else f" (got {got!r})"
            lines.append(f"{source}: {key}: {problem['msg']}{shown}")
    return "\n".join(lines)
