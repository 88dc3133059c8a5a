"""SQL: parse (pglast), plan, execute against the storage engine; one Session per connection."""
