"""What both panels share: list filters and ordering, paging, form fields for
ids and amounts, the review → confirm flow, money formatting in templates.

The panels import it; the ledger (``billing``) never does.
"""
