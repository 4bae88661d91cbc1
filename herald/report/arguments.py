"""The report command's arguments, apart from its code: `herald`'s parser imports this
at every start (a sender pod's too), so it imports nothing heavy."""

from __future__ import annotations

import argparse

SUMMARY = "write a campaign's report, or a summary of the namespace's campaigns, as HTML"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="CAMPAIGN", nargs="?",
                        help="the campaign (or CampaignRun) to report on")
    parser.add_argument("--since", metavar="WINDOW",
                        help="instead: every campaign started or finished in the last 24h,"
                             " 7d, 30d..., per day and per week")
    parser.add_argument("-o", "--output", metavar="FILE", default="-",
                        help="the HTML file to write (default: stdout)")
    parser.add_argument("--redis", metavar="URL",
                        help="Herald's Redis, for the rates over time (default:"
                             " HERALD_REDIS_URL; HERALD_REDIS_PASSWORD its password)")
