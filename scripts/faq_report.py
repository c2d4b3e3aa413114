"""Check the training folklore of docs/claims.md by experiment; write figures/faq/REPORT.md.

The same as the ``landscape-faq`` command:

    python scripts/faq_report.py --profile quick
    python scripts/faq_report.py --claims C1,C11 --profile full
"""

from landscape.studies.faq import main

if __name__ == "__main__":
    raise SystemExit(main())
