"""Data for the explorable report: table payloads, per-donor values and per-gene evidence as JSON.

The report's tables are rendered in the browser from JSON embedded in the page (no network), by
the few dozen lines of JavaScript in templates/explore.js, which only ever sets text
(``textContent``) so a label from data stays text. Everything here is deterministic: rows keep a
fixed order, numbers are rounded to four significant digits, JSON keys are sorted.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from neurokine.plot.common import rank_findings
from neurokine.stats.compare import cell_weighted_means
from neurokine.stats.verdict import rank_verdicts


@dataclasses.dataclass(frozen=True)
class Column:
    """One column of an explorable table: key in the row dict, header, kind, filter control.

    kind: 'text', 'long' (text that may wrap), 'num' (4 significant digits) or 'p' (a p-value or
    FDR: scientific when small).
    """

    key: str
    label: str
    kind: str = "text"
    filter: bool = False
    hidden: bool = False


def _compact(value: object, kind: str) -> object:
    """A JSON-ready cell: rounded number, None for missing, text otherwise."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if kind in ("num", "p"):
        try:
            number = float(value)
        except (TypeError, ValueError):
            return str(value)
        return None if not math.isfinite(number) else float(f"{number:.4g}")
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    return str(value)


@dataclasses.dataclass(frozen=True)
class DetailItem:
    """One panel of a row's detail, named by columns of the row: the cell type and signature of
    the donor values to plot (signature = the column's value + `suffix`), and a title prefix."""

    cell: str
    signature: str
    suffix: str = ""
    title: str = ""


def table_payload(table_id: str, title: str, rows: pd.DataFrame, columns: Sequence[Column], *,
                  limit: int, total: int | None = None, significance: Mapping | None = None,
                  details: Sequence[DetailItem] = (), note: str = "") -> dict:
    """An explorable table: columns and rows as lists (rows beyond `limit` left out; the page says
    how many and the download has them all).

    `significance` ({key, label}) names a yes/no column offered as the 'significant only' switch.
    `details` make rows clickable: the page builds each panel's donor stratum
    (tissue, cell type, signature) and finding (contrast + stratum) keys from the row's own
    columns, which must include contrast, tissue, case and reference (hidden columns are fine).
    """
    shown = rows.head(limit)
    present = [c for c in columns if c.key in shown.columns]
    body = [[_compact(v, c.kind) for v, c in zip(values, present, strict=True)]
            for values in shown[[c.key for c in present]].itertuples(index=False, name=None)]
    payload = {"id": table_id, "title": title,
               "columns": [{"key": c.key, "label": c.label, "kind": c.kind, "filter": c.filter,
                            "hidden": c.hidden} for c in present],
               "rows": body, "total": int(total if total is not None else len(rows)),
               "significance": dict(significance) if significance else None}
    if details and len(shown):
        payload["details"] = {"note": note, "items": [dataclasses.asdict(d) for d in details]}
    return payload


def script_json(payload: object) -> str:
    """JSON safe inside <script type="application/json">: '<', '>' and '&' are escaped as \\u
    sequences, so no label can close the script element; JSON.parse restores them as text. (The
    template inserts it with `|safe`: HTML escaping would corrupt JSON, and it needs none.)"""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


# --------------------------------------------------------------------------------------------
# Which findings get per-gene detail
# --------------------------------------------------------------------------------------------


def detail_findings(tests: pd.DataFrame, verdicts: pd.DataFrame | None, alpha: float,
                    limit: int) -> pd.DataFrame:
    """The findings whose genes the report shows: the top `limit` tests (significant first) and,
    for the top `limit` verdicts that are not 'no change' or 'not testable', the receiver's
    response and the top sender's ligand. One row per contrast x tissue x cell type x signature."""
    keys = ["contrast", "tissue", "cell_type", "signature"]
    frames = [rank_findings(tests, alpha, limit)[keys]] if limit else []
    if limit and verdicts is not None and len(verdicts):
        ranked = rank_verdicts(verdicts[~verdicts["verdict"].isin(["no_change", "not_testable"])]).head(limit)
        frames.append(pd.DataFrame({"contrast": ranked["contrast"], "tissue": ranked["tissue"],
                                    "cell_type": ranked["cell_type"],
                                    "signature": ranked["axis"].astype(str) + ".response"}))
        senders = ranked[ranked["top_sender"].fillna("").astype(str) != ""]
        frames.append(pd.DataFrame({"contrast": senders["contrast"], "tissue": senders["tissue"],
                                    "cell_type": senders["top_sender"],
                                    "signature": senders["axis"].astype(str) + ".ligand"}))
    if not frames:
        return pd.DataFrame(columns=keys)
    return pd.concat(frames, ignore_index=True).astype(str).drop_duplicates().reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Per-donor values, gene coverage and genes behind each embedded row
# --------------------------------------------------------------------------------------------


def stratum_key(tissue: object, cell_type: object, signature: object) -> str:
    """Key of one tissue x cell type x signature in the donor-value payload."""
    return f"{tissue}\x1f{cell_type}\x1f{signature}"


def finding_key(contrast: object, tissue: object, cell_type: object, signature: object) -> str:
    """Key of one finding in the per-gene payload."""
    return f"{contrast}\x1f{tissue}\x1f{cell_type}\x1f{signature}"


def donor_payload(donor_values: pd.DataFrame | None, strata: set[str], min_cells: int,
                  measure: str = "mean_cell_score") -> dict:
    """Per stratum: [donor index, group index, value] of every donor (the values the tests used:
    cell-weighted means of a donor's samples with at least `min_cells` cells)."""
    if donor_values is None or donor_values.empty or not strata:
        return {"donors": [], "groups": [], "strata": {}}
    values = donor_values
    if "measure" in values.columns:
        values = values[values["measure"] == measure]
    values = values[values["n_cells"] >= min_cells].astype(
        {"tissue": str, "cell_type": str, "signature": str, "donor_id": str, "disease": str})
    values = values[[stratum_key(t, c, s) in strata for t, c, s in
                     zip(values["tissue"], values["cell_type"], values["signature"], strict=True)]]
    means = cell_weighted_means(values, ["tissue", "cell_type", "signature", "donor_id", "disease"],
                                "value")
    donors = sorted(means["donor_id"].unique())
    groups = sorted(means["disease"].unique())
    d_index = {d: i for i, d in enumerate(donors)}
    g_index = {g: i for i, g in enumerate(groups)}
    out: dict[str, list] = {}
    for key, group in means.groupby(["tissue", "cell_type", "signature"], sort=True):
        out[stratum_key(*key)] = [[d_index[d], g_index[g], float(f"{v:.4g}")] for d, g, v in zip(
            group["donor_id"], group["disease"], group["value"], strict=True) if math.isfinite(v)]
    return {"donors": donors, "groups": groups, "strata": out}


def gene_payload(genes: pd.DataFrame | None) -> dict[str, list]:
    """Per finding: [gene, status, effect, t, p] of every signature gene, strongest |t| first."""
    if genes is None or genes.empty:
        return {}
    out = {}
    frame = genes.assign(_abs=genes["t"].astype(float).abs().fillna(-1.0))
    for key, group in frame.groupby(["contrast", "tissue", "cell_type", "signature"], sort=True):
        ordered = group.sort_values(["_abs", "gene"], ascending=[False, True], kind="mergesort")
        out[finding_key(*key)] = [[str(r.gene), str(r.status), _compact(r.effect, "num"),
                                   _compact(r.t, "num"), _compact(r.p_value, "p")]
                                  for r in ordered.itertuples(index=False)]
    return out


def coverage_payload(coverage: pd.DataFrame | None) -> dict[str, list]:
    """Per signature: [genes listed, genes present, missing genes] from gene_coverage.tsv."""
    if coverage is None or coverage.empty:
        return {}
    out = {}
    for r in coverage.itertuples(index=False):
        missing = getattr(r, "missing_genes", "")
        out[str(r.signature)] = [int(r.n_genes_listed), int(r.n_genes_present),
                                 "" if pd.isna(missing) else str(missing), str(r.status)]
    return out
