"""The accounts-receivable ledger: documents, allocations, operations, audit."""
