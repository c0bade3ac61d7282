"""Benchmarks (`make bench`): they print numbers and never assert them."""
