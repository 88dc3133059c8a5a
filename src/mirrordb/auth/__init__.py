"""Client authentication, sans-I/O: pg_hba.conf (``hba``), SCRAM-SHA-256 (``scram``), and stored
passwords with the md5 and password methods (``md5``). The backend drives these pieces and sends
the protocol messages; see README.md beside this file for the rules."""
