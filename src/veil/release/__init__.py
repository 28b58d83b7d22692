"""Releases: access tiers, a verification and risk gate, signed manifests, data-use terms, history.

A release is the only way de-identified data leaves a project (DESIGN.md "publish"): the tier decides the
policy and the risk thresholds, ``veil verify`` and the risk check decide whether it may be published,
and a signed manifest and the data-use terms travel with it. See :mod:`veil.release.create`.
"""
