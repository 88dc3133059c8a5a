"""Write-ahead log in PostgreSQL 15's on-disk format: record and page codecs (record, pageheader,
payloads, rmgr, segment), the writer of a running server (writer) and the validating reader
(reader) that recovery, standbys and tools share. See README.md in this directory."""
