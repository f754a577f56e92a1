"""Bad-input errors that name every offending field by its path.

One exception type for everything a caller sent wrong; the CLI turns it into exit code 2
and the service into HTTP 422, in one place each.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError


@dataclass(frozen=True, slots=True)
class FieldError:
    """One offending field: its path (``orders[3].lines[0].sku``) and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class BadInput(Exception):
    """Input that breaks the contract; carries every error found, not just the first."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors: tuple[FieldError, ...] = tuple(dict.fromkeys(errors))
        super().__init__("\n".join(str(e) for e in self.errors))


def format_path(loc: Iterable[str | int]) -> str:
    """Turn a pydantic location tuple into ``orders[3].lines[0].sku``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def from_validation_error(
    exc: ValidationError, prefix: Sequence[str | int] = ()
) -> list[FieldError]:
    """Convert pydantic's errors to ours, with a readable message for each."""
    errors = []
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        msg = err["msg"]
        if err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "extra_forbidden":
            msg = "unknown field"
        errors.append(FieldError(format_path([*prefix, *loc]), msg))
    return errors
