"""A command line the commands cannot read, as one line (private to the command line; used by
``pipelines._cli_app``'s command groups): an unknown or missing option, an option without its value, a value of the
wrong type, an extra argument — naming the command and the option, never a value typed."""

from __future__ import annotations

import re
from typing import Any

import typer

__all__ = ["RESOLVED_KEY", "usage_line"]


#: the context's meta key of the command a group resolved (named in a usage error that carries no context)
RESOLVED_KEY = "agcredit.resolved_command"


#: an option's name as typed (``--out``, ``-h``): echoed in a usage error; anything else typed is never repeated
_OPTION_NAME = re.compile(r"--?[A-Za-z][A-Za-z0-9-]*")


def usage_line(e: Any, where: str | None = None) -> BaseException:
    """A command line the commands cannot read (an unknown or missing option, a value of the wrong type, an extra
    argument) as one line on standard error, exit 2 — as every other user error (click drew a boxed usage text) —
    naming the option, never a value typed: an unquoted name (``explain Rane Tequaka``) or an ID typed as a value would
    otherwise be repeated. Asking for help with no command (click's own no-arguments error) shows the help as before."""
    from typer._click.exceptions import MissingParameter, NoArgsIsHelpError, NoSuchOption

    if isinstance(e, NoArgsIsHelpError):
        return e
    ctx = getattr(e, "ctx", None)
    where = getattr(ctx, "command_path", None) or where or "agcredit"
    param = getattr(e, "param", None)
    opts = [o for o in (getattr(param, "opts", None) or []) if o.startswith("-")]
    # an argument by the name its help shows (its metavar: JSON_FILE, not INPUTS)
    shown = str(getattr(param, "metavar", None) or getattr(param, "name", "") or "").upper().removesuffix("...")
    hint = f"'{opts[-1]}'" if opts else (f"'{shown}'" if param is not None else "")
    if isinstance(e, NoSuchOption):
        name = str(e.option_name)
        said = f"no such option {name}" if _OPTION_NAME.fullmatch(name) else "an option it does not know"
        said += "".join(f" (did you mean {p}?)" for p in list(e.possibilities or ())[:1])  # the closest first
    elif isinstance(e, MissingParameter):
        said = f"missing {'option' if opts else 'argument'} {hint}".rstrip()
    elif param is not None:  # a BadParameter: what the option takes (its message when it quotes nothing typed)
        why = str(e.message or "").strip().rstrip(".")
        said = f"invalid value for {hint}" + (f" ({why[:1].lower()}{why[1:]})" if why and not set("'\"") & set(why)
                                              else "")
    elif _OPTION_NAME.fullmatch(str(getattr(e, "option_name", None) or "")):  # an option given without its value
        said = f"option {e.option_name} needs a value"
    elif "extra argument" in e.message:
        said = "unexpected extra argument(s), not repeated here (a value with spaces needs quotes)"
    elif "No such command" in e.message:
        said = "no such command (not repeated here)"
    else:
        said = "the command line cannot be read (not repeated here)"
    typer.echo(f"error: {where}: {said}; '{where} --help' lists its options", err=True)
    return SystemExit(2)
