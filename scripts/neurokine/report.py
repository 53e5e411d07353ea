"""Render the self-contained HTML report (figures and tables embedded; no network needed)."""

from __future__ import annotations

import base64
import dataclasses
import importlib.metadata
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import jinja2
import pandas as pd
import yaml

from neurokine import SYNTHETIC_LABEL, evaluation
from neurokine.signatures import Axis

#: Packages whose versions decide the numbers; listed in the provenance section.
KEY_PACKAGES = ("neurokine", "scanpy", "anndata", "numpy", "scipy", "pandas", "statsmodels",
                "matplotlib", "seaborn", "gseapy", "snakemake")


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
    """A downloadable TSV of a table as a data URI."""
    buffer = io.StringIO()
    frame.to_csv(buffer, sep="\t", index=False, float_format="%.10g", lineterminator="\n")
    return data_uri(buffer.getvalue().encode("utf-8"), "text/tab-separated-values")


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
    columns = ["contrast", "tissue", "cell_type", "axis", "module", "direction", "effect",
               "hedges_g", "ci_low", "ci_high", "fdr", "n_donors_case", "n_donors_reference",
               "therapy_outcomes"]
    return hits[columns]


def render_report(template_dir: Path, *, title: str, sections: Sequence[DatasetSection],
                  axes: Mapping[str, Axis], config: Mapping, resource_checksums: Mapping[str, str],
                  alpha: float) -> str:
    """Render the report HTML; every label from data is escaped by Jinja's autoescape."""
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(template_dir),
                                     autoescape=True, undefined=jinja2.StrictUndefined,
                                     keep_trailing_newline=True)
    rendered_sections = []
    for section in sections:
        tested = section.results[section.results["status"] == "tested"]
        rendered_sections.append({
            "id": section.dataset_id, "title": section.title, "citation": section.citation,
            "synthetic": section.synthetic,
            "n_tests": len(tested), "n_not_tested": int((section.results["status"] != "tested").sum()),
            "n_significant": int((tested["fdr"] < alpha).sum()),
            "top": top_findings(section.results, axes, alpha).to_dict("records"),
            "qc": section.qc_steps.groupby(["order", "step"], sort=True)["cells_kept"].sum()
                  .reset_index().to_dict("records"),
            "figures": {name: data_uri(path.read_bytes(), "image/png")
                        for name, path in sorted(section.figures.items())},
            "results_uri": table_uri(section.results),
            "recovery": (evaluation.recovery_table(section.truth, section.results, alpha).to_dict("records")
                         if section.truth is not None else None),
        })
    return environment.get_template("report.html").render(
        title=title, sections=rendered_sections, alpha=alpha,
        any_synthetic=any(s.synthetic for s in sections), synthetic_label=SYNTHETIC_LABEL,
        versions=package_versions(), config_yaml=yaml.safe_dump(dict(config), sort_keys=True),
        checksums=sorted(resource_checksums.items()),
    )
