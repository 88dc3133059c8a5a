"""Access methods and transactions: commit log, transactions and snapshots, heap, sequences, vacuum."""
