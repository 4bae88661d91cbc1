"""`herald report`: a campaign's report as one self-contained HTML page.

figures (the numbers, pure), meanings (error codes in words), svg (the charts, pure),
page (the HTML), summary (per day and week across a namespace), command (the one
implementation behind `herald report` and `kubectl herald report`).
"""
