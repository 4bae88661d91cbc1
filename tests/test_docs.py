"""The docs say what the code does: the RBAC table is the chart's RBAC, the metrics table
is what Herald exports, the YAML examples parse, and the index's links resolve."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.test_chart import OPERATOR_RULES, exported_metrics

DOCS = Path(__file__).resolve().parent.parent / "docs"


def table_rows(text: str, first_header: str) -> list[list[str]]:
    """The rows of the Markdown table whose first column is `first_header`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_the_rbac_table_is_the_charts_rbac() -> None:
    documented: dict[tuple[str, str], set[str]] = {}
    for group, resources, verbs, why in table_rows((DOCS / "install.md").read_text(), "API group"):
        assert why, (group, resources)
        for resource in resources.split(", "):
            documented[(group.strip('"'), resource)] = set(verbs.split(", "))
    assert documented == OPERATOR_RULES


def test_the_metrics_table_is_what_herald_exports() -> None:
    rows = table_rows((DOCS / "observability.md").read_text(), "metric")
    documented = {re.match(r"`(herald_[a-z_]+)", row[0])[1] for row in rows}  # type: ignore[index]
    names = exported_metrics()
    histograms = {name.removesuffix("_bucket") for name in names if name.endswith("_bucket")}
    others = {name for name in names if not name.endswith(("_bucket", "_sum", "_count"))}
    assert documented == others | histograms


def test_the_yaml_examples_parse() -> None:
    text = (DOCS / "gitops.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 2
    for block in blocks:
        app = yaml.safe_load(block)
        assert app["kind"] == "Application" and app["spec"]["destination"]["namespace"]


def test_the_index_links_resolve() -> None:
    links = re.findall(r"\]\(([^)]+\.md)\)", (DOCS / "README.md").read_text())
    assert {"install.md", "gitops.md", "observability.md", "reference.md"} <= set(links)
    for link in links:
        assert (DOCS / link).exists(), link
