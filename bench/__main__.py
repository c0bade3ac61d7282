"""Runs every benchmark in turn and prints its figures."""

from __future__ import annotations

import time

from bench import (
    bench_claims,
    bench_config,
    bench_delivery,
    bench_install,
    bench_matching,
    bench_parse,
    bench_relevance,
    bench_render,
    bench_senders,
    bench_similarity,
    bench_web,
)


def main() -> None:
    for module in (
        bench_install,
        bench_parse,
        bench_config,
        bench_matching,
        bench_similarity,
        bench_relevance,
        bench_render,
        bench_delivery,
        bench_web,
        bench_claims,
        bench_senders,
    ):
        started = time.perf_counter()
        module.run()
        print(f"  ({module.__name__} took {time.perf_counter() - started:.1f} s)\n")


if __name__ == "__main__":
    main()
