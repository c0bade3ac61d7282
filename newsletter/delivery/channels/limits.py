"""The chat channels' waiting limits, apart from the posting code (importing that loads
httpx, which a pass without chat parts never needs: start-up time)."""

MAX_WAIT = 120.0  # seconds: a service asking for a longer wait leaves the part for the next pass
