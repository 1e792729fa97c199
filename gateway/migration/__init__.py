"""Migration: copy invoices from one connection to another, once each, verified, reversible.

``plan.py`` (what a run is), ``references.py`` (the ``--map`` file), ``translate.py`` (a source
invoice as the target will take it), ``origin.py`` (whether the target already holds the
invoice or a copy of it), ``copy.py`` (one invoice copied: crosswalk, create, status, payments,
verification), ``resume.py`` (a copy an earlier run began, taken up again), ``rows.py`` (what a
crosswalk row says of a copy), ``carried.py`` (what a copy carries of status and payments, and
says where it cannot), ``reasons.py`` (what a failure says), ``compare.py`` (a copy's money
against its source's), ``runner.py`` (the walk, split into chunks that several processes may
share), ``afterwards.py`` (verify and revert, after a run), ``report.py`` (the report and the
summary), ``progress.py`` (what a person watching sees). docs/migration.md walks through it.
"""
