"""Each OC's conditions of use, enforced for the whole deployment: rate, quota, hours, breaker.

May use: settings, observe, partners; shared state lives in PostgreSQL (`partner_limits`).
"""
