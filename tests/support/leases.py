"""Time passing for leases, without waiting for it.

The notifications senders' leases are kept by PostgreSQL: a claim sets ``lease_until = now() + lease_s`` and
a row whose lease ended (``lease_until < now()``) is due again. The clock those statements read is the
database server's, so a test moves the lease ends back instead of sleeping until ``now()`` passes them:
for the claim the effect is the same as the clock running ``seconds`` ahead."""

from __future__ import annotations


async def age_leases(pool, seconds: float, *, table: str = "deliveries") -> int:
    """Every lease in ``table`` ends ``seconds`` earlier, as if that much time had passed; how many rows
    held one."""
    status = await pool.execute(
        f"UPDATE {table} SET lease_until = lease_until - make_interval(secs => $1) WHERE lease_until IS NOT NULL",
        float(seconds),
    )
    return int(status.split()[-1])
