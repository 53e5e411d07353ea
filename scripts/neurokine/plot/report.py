"""Render the self-contained HTML report (figures and tables embedded; no network needed).

Every value that comes from data (cell types, diseases, donors, dataset titles) reaches the page
only through Jinja with autoescaping on, and every figure and download is a data: URI, so the
file opens from disk, offline, and a label such as ``<img src=x onerror=alert(1)>`` stays text.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import importlib.metadata
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd
import yaml

from neurokine import SYNTHETIC_LABEL
from neurokine.curated.axes import Axis
from neurokine.plot.catalog import CAPTIONS
from neurokine.plot.common import rank_findings
from neurokine.settings import CompareSettings, Contrast, NetworkSettings
from neurokine.stats import network as nw
from neurokine.stats.compare import applicable_contrasts
from neurokine.validation import evaluation

#: The Jinja templates shipped with the library.
TEMPLATES = Path(__file__).parent / "templates"
#: Packages whose versions decide the numbers; listed in the provenance section.
KEY_PACKAGES = ("neurokine", "scanpy", "anndata", "numpy", "scipy", "pandas", "statsmodels",
                "matplotlib", "seaborn", "gseapy", "snakemake", "jinja2",
                "cellxgene-ontology-guide")



@dataclasses.dataclass
class DatasetSection:
    """Everything the report shows for one dataset."""

    dataset_id: str
    title: str
    citation: str
    synthetic: bool
    results: pd.DataFrame
    qc_steps: pd.DataFrame
    figures: dict[str, Path]
    truth: pd.DataFrame | None = None
    cell_counts: pd.DataFrame | None = None
    network: pd.DataFrame | None = None
    evidence: pd.DataFrame | None = None
    registry: Mapping = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class CrossDataset:
    """The cross-dataset part: forest plot, therapy panel and table, meta-analysis if any."""

    figures: dict[str, Path]
    therapy: pd.DataFrame
    meta: pd.DataFrame | None = None


def package_versions(names: Sequence[str] = KEY_PACKAGES) -> dict[str, str]:
    """Installed version of each package, or 'not installed'."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed (imported from source)"
    return versions


def data_uri(payload: bytes, mime: str) -> str:
    """Embed bytes as a base64 data URI, so the report opens from disk with no network."""
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def table_uri(frame: pd.DataFrame) -> str:
    """A downloadable gzipped TSV of a table as a data URI (gzip keeps the page a few MB)."""
    buffer = io.StringIO()
    frame.to_csv(buffer, sep="\t", index=False, float_format="%.10g", lineterminator="\n")
    # mtime=0 keeps the gzip header free of a timestamp, so the report stays byte-identical.
    payload = gzip.compress(buffer.getvalue().encode("utf-8"), compresslevel=9, mtime=0)
    return data_uri(payload, "application/gzip")


def therapy_outcomes(axis: Axis | None, disease: str) -> str:
    """Clinical outcomes of targeting the axis in one disease, e.g. 'lenercept: harmful'."""
    if axis is None:
        return ""
    items = [f"{t['drug']}: {t['outcome']}" for t in axis.record.get("therapies", [])
             if t["disease"] == disease]
    return "; ".join(items) if items else "no trial recorded"


def top_findings(results: pd.DataFrame, axes: Mapping[str, Axis], alpha: float,
                 limit: int = 25) -> pd.DataFrame:
    """Significant donor-level results, strongest first, beside the therapy outcomes."""
    hits = results[(results["status"] == "tested") & (results["fdr"] < alpha)].copy()
    hits = hits.sort_values(["fdr", "p_value", "contrast", "cell_type", "signature"]).head(limit)
    hits["direction"] = hits["effect"].map(lambda e: "up" if e > 0 else "down")
    hits["therapy_outcomes"] = [therapy_outcomes(axes.get(a), d)
                                for a, d in zip(hits["axis"], hits["case"], strict=True)]
    columns = ["dataset_id", "contrast", "tissue", "cell_type", "axis", "module", "direction", "effect",
               "hedges_g", "ci_low", "ci_high", "fdr", "n_donors_case", "n_donors_reference",
               "therapy_outcomes"]
    return hits[columns]


def top_interactions(network: pd.DataFrame, alpha: float, limit: int = 20) -> pd.DataFrame:
    """Significant sender -> receiver changes, strongest first."""
    ranked = rank_findings(network, alpha, limit)
    return ranked[ranked["fdr"] < alpha]


def strong_evidence(evidence: pd.DataFrame, limit: int = 25) -> pd.DataFrame:
    """Axis x cell type rows where the response changed or a sender was found, most layers first."""
    rows = evidence[evidence["response_changed"].astype(bool) | evidence["sender_identified"].astype(bool)]
    return rows.sort_values(["n_evidence", "response_fdr", "top_sender_fdr", "contrast", "axis", "cell_type"],
                            ascending=[False, True, True, True, True, True], kind="mergesort").head(limit)


def donor_summary(cell_counts: pd.DataFrame | None) -> list[dict]:
    """Donors, samples and cells per disease group and tissue."""
    if cell_counts is None or cell_counts.empty:
        return []
    samples = cell_counts.drop_duplicates("sample_id")
    table = samples.groupby(["disease", "tissue"], sort=True).agg(
        donors=("donor_id", "nunique"), samples=("sample_id", "nunique"),
        cells=("n_cells_sample", "sum")).reset_index()
    return table.to_dict("records")


def _records(frame: pd.DataFrame | None) -> list[dict]:
    """Rows as dicts with NaN turned into None (Jinja tests 'is none' instead of NaN checks)."""
    if frame is None or frame.empty:
        return []
    return frame.astype(object).where(pd.notna(frame), None).to_dict("records")


def _figures(paths: Mapping[str, Path]) -> list[dict]:
    """Figures in report order with caption and an embedded PNG."""
    order = [k for k in CAPTIONS if k in paths] + sorted(k for k in paths if k not in CAPTIONS)
    return [{"name": name, "caption": CAPTIONS.get(name, name),
             "uri": data_uri(Path(paths[name]).read_bytes(), "image/png")} for name in order]


def comparison_gaps(results: pd.DataFrame, cell_counts: pd.DataFrame | None,
                    contrasts: Sequence[Contrast]) -> list[str]:
    """Why no comparison was made for a dataset (empty when at least one test ran): no contrast
    configured, none possible for its groups, or every stratum not tested (the reasons)."""
    if (results["status"] == "tested").any():
        return []
    if not contrasts:
        return ["compare.contrasts is empty: this is a descriptive run"]
    groups = set(cell_counts["disease"].astype(str)) if cell_counts is not None else set()
    usable, notes = applicable_contrasts(contrasts, groups)
    if not usable:
        return [f"none of the configured contrasts has both groups here ({note})" for note in notes]
    reasons = results["reason"].dropna().astype(str)
    return [f"every stratum was not tested; e.g. {reason}" for reason in reasons.value_counts().index[:3]]


def render_section(section: DatasetSection, axes: Mapping[str, Axis], compare: CompareSettings) -> dict:
    """Everything one dataset section of the template needs, computed from its tables."""
    alpha = compare.fdr_alpha
    tested = section.results[section.results["status"] == "tested"]
    net = section.network if section.network is not None else pd.DataFrame(columns=nw.NETWORK_COLUMNS)
    net_tested = net[net["status"] == "tested"]
    evidence = section.evidence if section.evidence is not None else pd.DataFrame(
        columns=nw.EVIDENCE_COLUMNS)
    recovery = network_recovery = None
    n_network_false = None
    if section.truth is not None:
        recovery = _records(evaluation.recovery_table(section.truth, section.results, alpha))
        if "genes_moved" in section.truth.columns:
            network_recovery = _records(evaluation.network_recovery(section.truth, net, axes, alpha))
            n_network_false = len(evaluation.network_false_positives(section.truth, net, axes, alpha))
    downloads = [("signature_tests.tsv.gz", "donor-level comparisons", table_uri(section.results))]
    if section.network is not None:
        downloads.append(("interaction_tests.tsv.gz", "sender \u2192 receiver tests", table_uri(net)))
    if section.evidence is not None:
        downloads.append(("evidence.tsv.gz", "evidence agreement", table_uri(evidence)))
    entry = dict(section.registry)
    return {
        "id": section.dataset_id, "title": section.title, "citation": section.citation,
        "synthetic": section.synthetic,
        "references": [str(r) for r in entry.get("references", [])],
        "accession": str(entry.get("accession", "")), "licence": str(entry.get("licence", "")),
        "donors": donor_summary(section.cell_counts),
        "n_tests": len(tested), "n_not_tested": int((section.results["status"] != "tested").sum()),
        "n_significant": int((tested["fdr"] < alpha).sum()),
        "n_interactions": len(net_tested),
        "n_interactions_significant": int((net_tested["fdr"] < alpha).sum()),
        "n_evidence_all": int((evidence["n_evidence"] == 3).sum()) if len(evidence) else 0,
        "top": _records(top_findings(section.results, axes, alpha)),
        "interactions": _records(top_interactions(net, alpha)),
        "evidence": _records(strong_evidence(evidence)) if len(evidence) else [],
        "qc": section.qc_steps.groupby(["order", "step"], sort=True)["cells_kept"].sum()
              .reset_index().to_dict("records"),
        "figures": _figures(section.figures),
        "downloads": [{"file": f"{section.dataset_id}_{name}", "label": label, "uri": uri}
                      for name, label, uri in downloads],
        "recovery": recovery, "network_recovery": network_recovery, "n_network_false": n_network_false,
        "no_comparison": comparison_gaps(section.results, section.cell_counts, compare.contrasts),
    }


def render_report(*, title: str, sections: Sequence[DatasetSection], axes: Mapping[str, Axis],
                  config: Mapping, compare: CompareSettings, network: NetworkSettings,
                  resource_checksums: Mapping[str, str], cross: CrossDataset | None = None,
                  reference_provenance: pd.DataFrame | None = None,
                  output_checksums: Mapping[str, str] | None = None,
                  template_dir: Path = TEMPLATES) -> str:
    """Render the report HTML; every label from data is escaped by Jinja's autoescape."""
    alpha = compare.fdr_alpha
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(template_dir),
                                     autoescape=True, undefined=jinja2.StrictUndefined,
                                     keep_trailing_newline=True)
    environment.filters["num"] = _number
    rendered = [render_section(s, axes, compare) for s in sections]
    all_results = pd.concat([s.results for s in sections], ignore_index=True) if sections else None
    key_findings = (_records(top_findings(all_results, axes, alpha, limit=12))
                    if all_results is not None else [])
    therapy = cross.therapy if cross is not None else pd.DataFrame()
    # A meta-analysis of one dataset only repeats it (every row 'single_dataset'): not embedded.
    meta = cross.meta if cross is not None else None
    pooled = meta is not None and "status" in meta.columns and bool((meta["status"] == "tested").any())
    paradoxes = therapy[therapy["paradox"].astype(bool)] if len(therapy) else therapy
    return environment.get_template("report.html").render(
        title=title, sections=rendered, alpha=alpha, key_findings=key_findings,
        any_synthetic=any(s.synthetic for s in sections), synthetic_label=SYNTHETIC_LABEL,
        cross_figures=_figures(cross.figures) if cross is not None else [],
        therapy=_records(therapy), paradoxes=_records(paradoxes),
        therapy_uri=table_uri(therapy) if len(therapy) else None,
        meta_uri=table_uri(cross.meta) if pooled else None,
        has_meta=pooled,
        versions=package_versions(), config_yaml=yaml.safe_dump(dict(config), sort_keys=True),
        checksums=sorted(resource_checksums.items()),
        references=_records(reference_provenance),
        outputs=sorted((output_checksums or {}).items()),
        network_settings=network, compare_settings=compare,
    )


def _number(value: object, spec: str = ".3g") -> str:
    """Format a number for a table cell; missing values print as an en dash."""
    if value is None:
        return "\u2013"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not np.isfinite(number):
        return "\u2013"
    return str(round(number)) if spec == "d" else format(number, spec)
