"""One module per claim of docs/claims.md; see :mod:`landscape.studies.faq` for the shape
each module has (ID, TITLE, RULE, Config, PROFILES, measure, verdict, plot)."""
