"""Limits that hold across replicas: per-client rate limits and the sign-in throttle.

With AUTHSERVER_REDIS_URL set, counters live in Redis (the `limits` library), shared by
every process of the fleet; without it, per-client rate limits count in each process,
and the sign-in throttle counts in the database (shared all the same). When Redis does
not answer, nothing fails: rate limits count in the process and the sign-in throttle
in the database until Redis is back (checked every few seconds), and /readyz says so.
"""
