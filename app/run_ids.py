"""Which run is meant: a full run id, or a unique prefix of one, wherever a run id is taken.

Every command that takes a run id (``logs``, ``runs resume|retry|cancel|settle``,
``verify list``, the ``--run`` filters of ``events``, ``reflexion search`` and
``approvals list``) and the console's ``/runs/RUN_ID`` pages and API resolve it here, so a
prefix that works in one place works in all, and an ambiguous one is refused the same way
everywhere, naming the runs it matches. The store is asked (its ``runs`` table and its run
log) and, when the caller gives a logs directory, the local JSON logs too (runs the store
does not know: no store, or ``ORCHESTRATOR_BLOCKS_DURABLE=off`` with the run log off).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator_blocks.sdk import OrchestratorError

if TYPE_CHECKING:
    from .store import Store

__all__ = ["MIN_PREFIX", "AmbiguousRunId", "RunIdError", "UnknownRunId", "resolve_run_id"]

MIN_PREFIX = 4
"""The shortest prefix looked up: run ids start with their creation time, so a few
characters already tell apart runs started days apart."""
_NAMED = 3  # matches named in an "ambiguous" message


class RunIdError(OrchestratorError, LookupError):
    """A run id that names no run, or a prefix that names several: one line that says
    which (the CLI prints it as is and exits 2)."""

    code = "run.unknown_id"


class UnknownRunId(RunIdError):
    pass


class AmbiguousRunId(RunIdError):
    code = "run.ambiguous_id"


def resolve_run_id(run_id: str, *, store: Store | None = None, logs_dir: Path | None = None) -> str:
    """The full id of the run ``run_id`` names (itself, or the one run it is a prefix of)."""
    wanted = run_id.strip()
    if not wanted:
        raise UnknownRunId("give a run id; list runs with `orchestrator-blocks runs`")
    found = _in_store(store, wanted) if store is not None else set()
    if wanted in found:
        return wanted
    if logs_dir is not None:
        from .cli.timeline import run_ids_in_logs

        in_logs = run_ids_in_logs(logs_dir, wanted)
        if wanted in in_logs:
            return wanted
        found |= in_logs if len(wanted) >= MIN_PREFIX else set()
    if len(found) == 1:
        return found.pop()
    if found:
        many = f"more than {_NAMED}" if len(found) > _NAMED else str(len(found))
        shown = ", ".join(sorted(found)[:_NAMED]) + (", ..." if len(found) > _NAMED else "")
        raise AmbiguousRunId(
            f"run id prefix {wanted!r} matches {many} runs ({shown}); give more characters"
        )
    where = " or ".join(
        w for w, asked in (("the store", store), (f"the logs at {logs_dir}", logs_dir)) if asked
    )
    short = len(wanted) < MIN_PREFIX
    short_note = f" (a prefix needs at least {MIN_PREFIX} characters)" if short else ""
    raise UnknownRunId(
        f"no run {wanted!r} in {where or 'this home'}{short_note}; "
        "list runs with `orchestrator-blocks runs`"
    )


def _in_store(store: Store, wanted: str) -> set[str]:
    """``wanted`` itself if the store knows it, else the ids it is a prefix of."""
    from sqlalchemy import select

    from .store.schema import runs, workflow_run_log

    tables = (runs, workflow_run_log)
    with store.engine.read() as conn:
        for t in tables:
            if conn.execute(select(t.c.run_id).where(t.c.run_id == wanted)).first():
                return {wanted}
        if len(wanted) < MIN_PREFIX:
            return set()
        found: set[str] = set()
        for t in tables:
            query = select(t.c.run_id).where(t.c.run_id.startswith(wanted, autoescape=True))
            found.update(conn.execute(query.limit(_NAMED + 1)).scalars())
        return found
