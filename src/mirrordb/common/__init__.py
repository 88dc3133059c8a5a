"""Small building blocks shared by every subsystem: LSNs, CRC-32C, errors, invariants, file I/O,
the thread of a background role."""
