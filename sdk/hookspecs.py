"""The hooks a plugin may implement: the extension contract of orchestrator-blocks (pluggy).

A plugin is any module or object with functions marked ``@sdk.hookimpl`` whose names match
the specifications below; an implementation may accept a subset of the arguments. Plugins
are found through the ``orchestrator_blocks.plugins`` entry-point group, or registered at
run time with ``orchestrator_blocks.register_plugin(obj)``. The built-in features (the
store, YAML contracts, approvals, post actions, serve, the console, every CLI verb but
``run`` and ``plugins``) plug in through these same hooks.

=========================  ==================================================================
hook                       what it lets a plugin do
=========================  ==================================================================
register_block_types       add block types, their codes and default policies (historic)
block_guard                refuse a block right before it starts (fail closed)
run_started / run_finished record, stage or react around every run
provide_run_store          the durable store runs are recorded in (first answer wins)
provide_services           services blocks ask for by protocol (``ctx.service(...)``)
provide_event_sinks        where run events go besides the local log (the store, a queue)
register_workflow_loaders  load workflows from a kind of file (``.yaml`` contracts)
register_triggers          start runs from outside (cron, ledger events, approvals)
register_executors         where runs execute (in-process; workers)
register_commands          add ``orchestrator-blocks`` CLI verbs
describe_workflow          add to what ``explain`` and the console show of a workflow
=========================  ==================================================================

Hooks that return something may return an awaitable instead where the text says so; the
kernel awaits it. An exception raised by a hook is not swallowed: it fails what called it
(a guard that raises refuses the block, see :func:`block_guard`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:
    from .context import RunContext
    from .registry import Registry
    from .run import FinishedRun, PlannedBlock, Refusal, RunView
    from .settings import Settings

__all__ = [
    "PROJECT",
    "CommandLine",
    "Executors",
    "Triggers",
    "WorkflowLoaders",
    "hookimpl",
    "hookspec",
]

PROJECT = "orchestrator_blocks"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class WorkflowLoaders(Protocol):
    """What ``register_workflow_loaders`` receives."""

    def add(self, suffixes: tuple[str, ...], load: Callable[[Any], Any], what: str) -> None:
        """Load files ending in ``suffixes`` with ``load(path) -> Workflow``; ``what`` names
        the kind in messages ("a YAML contract"). ``load`` raises ``OrchestratorError``
        with a one-line message for a file it cannot load."""
        ...


class Triggers(Protocol):
    """What ``register_triggers`` receives."""

    def add(self, trigger: Any) -> None:
        """Add a trigger: an object with ``name`` and ``attach(host)`` /
        ``async tick(now) -> datetime | None`` (see ``orchestrator_blocks.app.serve``)."""
        ...


class Executors(Protocol):
    """What ``register_executors`` receives."""

    def add(self, name: str, factory: Callable[[Settings], Any]) -> None:
        """Add an executor: ``factory(settings)`` returns an object with
        ``async run(workflow, input, *, run_id=None) -> RunResult`` and ``aclose()``."""
        ...


class CommandLine(Protocol):
    """What ``register_commands`` receives: the ``typer.Typer`` of ``orchestrator-blocks``."""

    def command(self, name: str | None = None, **kwargs: Any) -> Callable[[Any], Any]: ...
    def add_typer(self, typer_instance: Any, *, name: str | None = None, **kwargs: Any) -> None: ...


@hookspec(historic=True)
def register_block_types(registry: Registry) -> None:
    """Add this plugin's block types to ``registry`` with ``registry.add(block_type)``.

    Historic: called once for every plugin, whenever it was registered (entry points when
    the host's block types are first needed, in load order, not for a command line that
    only lists its commands; ``register_plugin`` right away). Import heavy block modules
    here, not in the plugin's top-level module (see :mod:`.lazy`). Each type carries
    its domain, its domain codes with their retry dispositions and its default policy,
    usually inherited from its family (see :func:`~orchestrator_blocks.sdk.family`);
    ``registry.add`` takes a type or a whole family. A type id another plugin already
    registered is a conflict naming both distributions.

    Example::

        @sdk.hookimpl
        def register_block_types(registry):
            registry.add(GITHUB)  # every type declared with @GITHUB.block_type
    """


@hookspec
def block_guard(ctx: RunContext, block: PlannedBlock) -> Refusal | Awaitable[Refusal | None] | None:
    """Refuse ``block`` before it starts; return ``None`` to let it run.

    Called right before every block execution of every run (success path, ``on_error``
    handlers, error paths), after its predecessors finished and before its first attempt.
    ``ctx.run`` is the run so far (its ``traits``, the blocks that ``succeeded``);
    ``block.writes`` says whether the block changes something outside the run. Every
    implementation is asked; the first :class:`Refusal` wins and the block fails with it
    (never retried). A guard that cannot decide must refuse (fail closed); an exception it
    raises refuses the block with ``runtime.panic``. May return an awaitable.

    Example (the hitl family's rule)::

        @sdk.hookimpl
        def block_guard(ctx, block):
            if block.writes and ctx.run.traits.get("risk_level", 0) >= 3 and not gate_passed:
                return sdk.Refusal("runtime.approval_required", "approve first")
    """


@hookspec
def run_started(run: RunView) -> Awaitable[None] | None:
    """A run (root or child) is about to execute its first block.

    Called once per run, inside the run's logging context (a line logged here belongs to
    the run). ``run.parent_run_id`` is ``None`` for a root run. May return an awaitable.
    The return value is ignored.

    Example::

        @sdk.hookimpl
        def run_started(run):
            if run.parent_run_id is None:
                print(f"{run.workflow_id} run {run.run_id} started")
    """


@hookspec
def run_finished(
    run: RunView, result: FinishedRun
) -> Mapping[str, Any] | Awaitable[Mapping[str, Any] | None] | None:
    """A run ended (or paused): ``result.status`` is final for this pass.

    Called once per run, failed and paused ones included, inside the run's logging context,
    before the caller gets the result. Return a mapping to report what was done (merged into
    ``result.reports``, e.g. ``{"log_run": True}``), or ``None``. May return an awaitable. A
    hook that raises does not change the run's status: the kernel logs
    ``run.finished_hook_failed`` and carries on with the next hook.

    Example (what the built-in post actions do, in short)::

        @sdk.hookimpl
        async def run_finished(run, result):
            if run.parent_run_id is None:
                await record_run(run.run_id, str(result.status), result.summary())
                return {"log_run": True}
            return None
    """


@hookspec(firstresult=True)
def provide_run_store(settings: Settings) -> Any:
    """The durable store runs are recorded in, for these settings (first answer wins).

    Called once per root run. Return an object with ``label`` (for messages), or ``None``
    to leave the choice to another plugin. Raise ``StateStoreError`` when the configured
    store cannot be opened: the run goes on without one and logs ``store.unavailable``.

    Example::

        @sdk.hookimpl
        def provide_run_store(settings):
            url = settings.get("DB_URL")
            return open_my_store(url) if url and url.startswith("mydb://") else None
    """


@hookspec
def provide_event_sinks(settings: Settings) -> Sequence[Callable[[dict[str, Any]], None]] | None:
    """Where every root run's events go besides the local JSON-lines log.

    Called once per root run, before its first event. Return sinks (callables taking one
    event dict, already enriched and redacted), or ``None``. A sink is called on the run's
    path for every event: it must be quick and must not raise (buffer, and write elsewhere).

    Example (the built-in store on PostgreSQL, so every machine sees every worker's runs)::

        @sdk.hookimpl
        def provide_event_sinks(settings):
            return [batched_writer(settings)] if is_postgres(settings) else None
    """


@hookspec
def provide_services(settings: Settings, store: Any) -> Mapping[type, object] | None:
    """Services blocks of a root run may ask for: ``{Protocol: implementation}``.

    Called once per root run (child runs share their root's services) with the store from
    :func:`provide_run_store` (or ``None``). Blocks look them up with
    ``ctx.service(Protocol)``; two plugins providing one protocol: the later registered wins.
    Return ``None`` to provide nothing (for example when there is no store).

    Example::

        @sdk.hookimpl
        def provide_services(settings, store):
            return {sdk.KillSwitches: SwitchBoard(store)} if store is not None else None
    """


@hookspec
def register_workflow_loaders(loaders: WorkflowLoaders) -> None:
    """Teach ``run``, ``serve`` and resume to load workflows from another kind of file.

    Called once per plugin host, the first time a workflow file is resolved. The kernel
    itself loads ``.py`` files (their ``workflow`` variable). The return value is ignored.

    Example (the built-in YAML contracts)::

        @sdk.hookimpl
        def register_workflow_loaders(loaders):
            loaders.add((".yaml", ".yml"), load_contract, "a YAML workflow contract")
    """


@hookspec
def register_triggers(triggers: Triggers) -> None:
    """Add triggers that start runs from outside.

    Called once each time ``serve`` starts, before its loop; each trigger is then attached
    to the server (``attach(server)``: it sees ``server.served``, ``server.settings``,
    ``server.store``) and ticked (``await tick(now)``, returning when it next wants to be
    ticked, or ``None`` for the next poll). It starts runs with ``server.start(served,
    input, why)``. The return value is ignored.

    Example::

        @sdk.hookimpl
        def register_triggers(triggers):
            triggers.add(QueueTrigger("orders"))
    """


@hookspec
def register_executors(executors: Executors) -> None:
    """Add places where runs execute.

    Called when ``serve`` (or a worker) starts; ``ORCHESTRATOR_BLOCKS_EXECUTOR`` picks one
    by name (default ``in_process``). The return value is ignored.

    Example::

        @sdk.hookimpl
        def register_executors(executors):
            executors.add("in_process", InProcessExecutor)
    """


@hookspec
def register_commands(cli: CommandLine) -> None:
    """Add verbs to the ``orchestrator-blocks`` command line.

    Called once when the CLI starts. ``cli`` is the root ``typer.Typer``; the return value
    is ignored. Import heavy dependencies inside the command, not at module level, so
    ``orchestrator-blocks --help`` stays fast (it lists each verb by the first paragraph of
    its help, and converts none to click)::

        @sdk.hookimpl
        def register_commands(cli):
            @cli.command("hello")
            def hello() -> None:
                print("hi")
    """


@hookspec
def describe_workflow(workflow: Any, card: dict[str, Any]) -> None:
    """Add to (or amend) the card ``explain`` and the console show for ``workflow``.

    ``card`` is the plain-data card being built (keys such as ``approval``, ``changes``);
    called after the built-in sections are filled. The return value is ignored.

    Example (the hitl family)::

        @sdk.hookimpl
        def describe_workflow(workflow, card):
            if card["risk_level"] >= 3:
                card["approval"] = "required before the first write"
    """
