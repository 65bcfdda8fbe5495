"""What a deployment adds around the kernel, each part a plugin like any other.

The parts register through the kernel's hooks (``orchestrator_blocks.sdk.hookspecs``) from
the same entry-point group as third-party plugins (see ``pyproject.toml``):

==============================  ================================================================
part                            hooks
==============================  ================================================================
``app.store.plugin``            ``provide_run_store``, ``provide_services``, ``block_guard``
                                (kill switches)
``app.approvals``               ``provide_services`` (the ``ApprovalDesk``)
``app.post_actions``            ``run_finished`` (run log, reflexion, ledger event, verify)
``app.contracts.plugin``        ``register_workflow_loaders`` (``.yaml`` contracts)
``app.serve.plugin``            ``register_triggers``, ``register_executors``
``app.cli``                     ``register_commands`` (every verb but ``run``/``plugins``)
==============================  ================================================================

``app.card`` gives ``ob.new_workflow`` its card methods (``set_risk_level``, ...).
"""
