"""The use cases the commands and the web pages call, one module each: ``preview``,
``why`` (why someone gets nothing), ``dryrun`` (``send --dry-run``), ``tuning``
(``match --stats`` and keyword trials), ``testsend`` (``send --to``), ``checks``
(``check``), ``likes`` (``feedback`` and liked papers), ``roster`` (``subscribers``:
the YAML subscriber files), ``starter`` (``init``).

They sit above the stages (digest, matching, render, delivery, site) and below the
shells (cli, web, daemon): they never print, never read argv.
"""
