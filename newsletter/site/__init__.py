"""The static site derived from the ledger after each pass: the archive of sent issues
(one page per issue, an index and an Atom feed per subscriber)."""
