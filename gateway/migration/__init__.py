"""Migration: copy invoices from one connection to another, once each, verified, reversible.

``plan.py`` (what a run is), ``references.py`` (the ``--map`` file), ``translate.py`` (a source
invoice as the target will take it), ``copy.py`` (one invoice copied: crosswalk, create, status,
payments, verification), ``runner.py`` (the walk, split into chunks that several processes may
share), ``verify.py`` and ``revert.py`` (after a run), ``report.py`` (the report and the
summary), ``progress.py`` (what a person watching sees). docs/migration.md walks through it.
"""
