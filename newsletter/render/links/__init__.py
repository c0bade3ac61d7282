"""The links an email carries, signed or derived from the address: unsubscribe tokens
(:mod:`.tokens`), feedback links (:mod:`.feedback`) and the archive's "view in
browser" URL (:mod:`.archive`). Pure functions of the configuration and a secret."""
