"""Physical streaming replication: the walsender (primary side), the walreceiver (standby side),
replication slots, base backups and the CopyBoth message codec. See README.md."""
