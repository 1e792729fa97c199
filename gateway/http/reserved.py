"""The literal segments after ``/invoices/`` that are routes of their own, never an invoice's
id, whatever the method: a GET, PUT or DELETE of one is a 405, not a provider call. The router
(``routes.py``) keeps them out of ``{invoice_id}``, and the API's description says so
(``openapi.py``); ``tests/e2e/test_reserved_words.py`` checks the table against the routes."""

RESERVED = ("preview", "next-number", "export.csv", "batch")
