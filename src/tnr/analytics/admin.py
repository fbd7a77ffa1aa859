"""The Django admin does not list linkage runs, pairs or decisions, on purpose.

A pair joins two incidents and a decision says how an organisation counts them: that is
record-level judgement, reached through the staff pages (``tnr.analytics.views``), which
check the organisation role and audit what they show and change. The admin is the
installation operators' tool and would show every organisation's pairs to any staff user
with a model permission.
"""
