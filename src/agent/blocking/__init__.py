"""Kernel-enforced, self-expiring bans that can never lock the host out.

Modules, from the bottom up: `target` (what can be banned, normalised),
`decision` (the stored record of a ban), `policy` (how long, escalation),
`guard` + `facts` (anti-lockout), `base` / `memory` / `nftables` / `iptables`
(the one port to the kernel and its backends, chosen by `backends.open_blocker`)
and `service` (decisions in, bans out, restored at start). See docs/blocking.md.

This package file imports nothing: the store imports `agent.blocking.decision`,
and the service imports the store.
"""
