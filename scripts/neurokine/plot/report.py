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
from neurokine.plot import explore, methods, therapy
from neurokine.plot.catalog import CAPTIONS
from neurokine.plot.common import rank_findings
from neurokine.plot.explore import Column
from neurokine.settings import CompareSettings, Contrast, NetworkSettings, ReportSettings, ScoringSettings
from neurokine.stats import network as nw
from neurokine.stats import verdict as vd
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
    """Everything the report shows for one dataset at one cell-type level."""

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
    verdicts: pd.DataFrame | None = None        # network/<ds>/verdicts.tsv
    donor_values: pd.DataFrame | None = None    # compare/<ds>/donor_values.tsv
    coverage: pd.DataFrame | None = None        # scores/<ds>/gene_coverage.tsv
    genes: pd.DataFrame | None = None           # report/<ds>/finding_genes.tsv
    activities: pd.DataFrame | None = None      # compare/<ds>/activity_tests.tsv
    level: str | None = None                    # cell-type level (fine, lineage); None: one level
    depth: pd.DataFrame | None = None           # prepared/<ds>/depth.tsv

    @property
    def key(self) -> str:
        """The section's id in the page: the dataset, with its level when levels are shown."""
        return self.dataset_id if self.level is None else f"{self.dataset_id}-{self.level}"

    @property
    def label(self) -> str:
        """The section's name as the reader sees it."""
        return self.dataset_id if self.level is None else f"{self.dataset_id} ({self.level} level)"


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


def therapy_outcomes(records: pd.DataFrame, axis: str, disease: str) -> str:
    """Clinical context of targeting the axis in one disease, with evidence level and population."""
    return therapy.outcomes_for(records, axis, disease)


def top_findings(results: pd.DataFrame, records: pd.DataFrame, alpha: float,
                 limit: int = 25) -> pd.DataFrame:
    """Significant donor-level results, strongest first, beside the therapy outcomes; the exact
    permutation p-value and its floor sit beside the model's FDR (5 vs 5 donors cannot give a
    permutation p below 2/252, whatever the model says)."""
    hits = results[(results["status"] == "tested") & (results["fdr"] < alpha)].copy()
    if "level" in hits.columns:
        # A type that is its own lineage (CD8 T, NK without subtypes) repeats at lineage level:
        # the first level's row stands for both.
        hits = hits.drop_duplicates(["dataset_id", "contrast", "tissue", "cell_type", "signature"])
    hits = hits.sort_values(["fdr", "p_value", "contrast", "cell_type", "signature"]).head(limit)
    hits["direction"] = hits["effect"].map(lambda e: "up" if e > 0 else "down")
    hits["therapy_outcomes"] = [therapy_outcomes(records, a, d)
                                for a, d in zip(hits["axis"], hits["case"], strict=True)]
    hits["test_kind"] = hits["test"].map(_test_kind)
    columns = ["dataset_id", "contrast", "tissue", "level", "cell_type", "axis", "module", "direction",
               "effect",
               "hedges_g", "ci_low", "ci_high", "fdr", "p_value", "perm_p_value", "perm_p_floor",
               "test_kind", "n_donors_case", "n_donors_reference", "therapy_outcomes"]
    return hits.reindex(columns=columns)


def _test_kind(test: object) -> str:
    """Short name of the test behind a reported p-value."""
    text = str(test) if isinstance(test, str) else ""
    return "exact permutation" if text.startswith("exact permutation") else (
        "moderated model" if text else "")


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


FINDING_COLUMNS = [
    Column("contrast", "contrast", filter=True), Column("tissue", "tissue", filter=True),
    Column("level", "level", filter=True), Column("cell_type", "cell type", filter=True),
    Column("axis", "axis", filter=True), Column("module", "module", filter=True),
    Column("direction", "direction", filter=True), Column("effect", "effect", "num"),
    Column("hedges_g", "Hedges' g", "num"), Column("ci", "95% CI"), Column("fdr", "FDR", "p"),
    Column("p_value", "p", "p"), Column("perm_p_value", "permutation p", "p"),
    Column("perm_p_floor", "permutation floor", "p"), Column("test_kind", "test"),
    Column("donors", "donors (case/ref)"), Column("significant", "significant"),
    Column("signature", "signature", hidden=True), Column("case", "case", hidden=True),
    Column("reference", "reference", hidden=True),
]
VERDICT_COLUMNS = [
    Column("contrast", "contrast", filter=True), Column("tissue", "tissue", filter=True),
    Column("level", "level", filter=True), Column("axis", "axis", filter=True),
    Column("cell_type", "receiver", filter=True), Column("verdict", "verdict", filter=True),
    Column("direction", "direction"), Column("ligand", "ligand in sender", "long"),
    Column("receptor_fraction", "receptor (fraction)", "num"),
    Column("response_hedges_g", "response g", "num"), Column("response_fdr", "response FDR", "p"),
    Column("response_perm_p", "response permutation p", "p"), Column("donors", "donors following"),
    Column("reason", "why", "long"), Column("therapy", "targeting this axis in the case disease", "long"),
    Column("informative", "informative", hidden=True), Column("case", "case", hidden=True),
    Column("reference", "reference", hidden=True), Column("top_sender", "top sender", hidden=True),
    Column("response_signature", "response signature", hidden=True),
    Column("ligand_signature", "ligand signature", hidden=True),
]
FINDING_DETAILS = (explore.DetailItem("cell_type", "signature"),)
VERDICT_DETAILS = (explore.DetailItem("cell_type", "response_signature", title="response in the receiver: "),
                   explore.DetailItem("top_sender", "ligand_signature", title="ligand in the top sender: "))
INTERACTION_COLUMNS = [
    Column("contrast", "contrast", filter=True), Column("tissue", "tissue", filter=True),
    Column("level", "level", filter=True), Column("axis", "axis", filter=True),
    Column("sender", "sender", filter=True), Column("receiver", "receiver", filter=True),
    Column("effect", "effect", "num"), Column("hedges_g", "Hedges' g", "num"),
    Column("fdr", "FDR", "p"), Column("perm_p_value", "permutation p", "p"),
    Column("donors", "donors (case/ref)"), Column("ligand", "ligand mean (case/ref)"),
    Column("receptor", "receptor mean (case/ref)"), Column("significant", "significant"),
    Column("response_support", "receiver response", filter=True),
    Column("supported", "supported by the receiver's response", filter=True),
]
ACTIVITY_TABLE_COLUMNS = [
    Column("contrast", "contrast", filter=True), Column("tissue", "tissue", filter=True),
    Column("level", "level", filter=True), Column("cell_type", "cell type", filter=True),
    Column("axis", "axis", filter=True), Column("direction", "direction", filter=True),
    Column("activity", "activity change", "num"), Column("hedges_g", "Hedges' g", "num"),
    Column("ci", "95% CI"), Column("fdr", "FDR", "p"), Column("perm_p_value", "permutation p", "p"),
    Column("perm_p_floor", "permutation floor", "p"), Column("n_genes", "genes fitted", "num"),
    Column("resource", "programs", filter=True), Column("donors", "donors (case/ref)"),
    Column("significant", "significant"),
]
THERAPY_TABLE_COLUMNS = [
    Column("axis", "axis", filter=True), Column("disease", "disease", filter=True),
    Column("observed_direction", "observed", filter=True), Column("observed", "strongest change"),
    Column("outcome_counts", "outcomes (studied in the disease)"),
    Column("outcome_summary", "evidence-weighted", filter=True),
    Column("strongest_evidence", "strongest evidence"),
    Column("other_population_counts", "other populations"),
    Column("withdrawn_drugs", "withdrawn", "long"), Column("multi_axis_drugs", "multi-axis drugs", "long"),
    Column("paradox_reasons", "paradox", "long"),
    Column("therapies", "entries (level; population) [citations]", "long"),
    Column("other_population_therapies", "entries in other populations", "long"),
    Column("paradox", "paradox flag", filter=True),
]


def _pair(case: object, reference: object, kind: str = "d") -> str:
    """'6/6' (donors) or '0.52/0.31' (means) for a table cell."""
    return f"{_number(case, kind)}/{_number(reference, kind)}"


def findings_rows(results: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Every tested signature row, strongest first, with the cells the explorable table shows."""
    rows = rank_findings(results, alpha, len(results))
    if rows.empty:
        return rows
    return rows.assign(
        direction=np.where(rows["effect"] > 0, "up", "down"),
        ci=[f"{_number(lo)} to {_number(hi)}"
            for lo, hi in zip(rows["ci_low"], rows["ci_high"], strict=True)],
        test_kind=rows["test"].map(_test_kind),
        donors=[_pair(c, r) for c, r in zip(rows["n_donors_case"], rows["n_donors_reference"], strict=True)],
        significant=rows["fdr"] < alpha)


def verdict_rows(verdicts: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """Verdicts, strongest first, with readable ligand and donor cells and the therapy context."""
    rows = vd.rank_verdicts(verdicts)
    if rows.empty:
        return rows

    def ligand(r: pd.Series) -> str:
        state = str(r["sender_state"])
        if state in ("up", "down"):
            return f"{state} in {r['top_sender']} (FDR {_number(r['top_sender_fdr'], '.2g')})"
        if state == "mixed":
            return f"up in {r['senders_up']}; down in {r['senders_down']}"
        return "no sender changed" if state == "none" else "no sender testable"

    informative = ~rows["verdict"].isin(["no_change", "not_testable"])
    sender = rows["top_sender"].fillna("").astype(str)
    return rows.assign(
        ligand=[ligand(r) for _, r in rows.iterrows()],
        donors=[f"{int(a)}/{int(n)}" if np.isfinite(a) and np.isfinite(n) else ""
                for a, n in zip(rows["n_donors_agreeing"].astype(float),
                                rows["n_donors_compared"].astype(float), strict=True)],
        # The clinical context matters where a layer moved; elsewhere it would repeat per row.
        therapy=[therapy_outcomes(records, a, c) if keep else None
                 for a, c, keep in zip(rows["axis"], rows["case"], informative, strict=True)],
        informative=informative,
        response_signature=np.where(rows["response_status"] == "tested",
                                    rows["axis"].astype(str) + ".response", None),
        ligand_signature=np.where(sender != "", rows["axis"].astype(str) + ".ligand", None),
        top_sender=sender.where(sender != "", None))


def interaction_rows(network: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Every tested interaction, strongest first."""
    rows = rank_findings(network, alpha, len(network))
    if rows.empty:
        return rows
    return rows.assign(
        donors=[_pair(c, r) for c, r in zip(rows["n_donors_case"], rows["n_donors_reference"], strict=True)],
        ligand=[_pair(c, r, ".3g") for c, r in zip(rows["ligand_mean_case"], rows["ligand_mean_reference"],
                                                     strict=True)],
        receptor=[_pair(c, r, ".3g") for c, r in zip(rows["receptor_mean_case"],
                                                       rows["receptor_mean_reference"], strict=True)],
        significant=rows["fdr"] < alpha)


def activity_rows(activities: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Every tested joint activity, strongest first, with direction, interval and donor cells."""
    rows = rank_findings(activities.rename(columns={"activity": "effect"}), alpha, len(activities))
    if rows.empty:
        return rows
    return rows.rename(columns={"effect": "activity"}).assign(
        direction=np.where(rows["effect"] > 0, "up", "down"),
        ci=[f"{_number(lo)} to {_number(hi)}"
            for lo, hi in zip(rows["ci_low"], rows["ci_high"], strict=True)],
        donors=[_pair(c, r) for c, r in zip(rows["n_donors_case"], rows["n_donors_reference"], strict=True)],
        significant=rows["fdr"] < alpha)


def explorable_section(section: DatasetSection, records: pd.DataFrame, compare: CompareSettings,
                       report_settings: ReportSettings) -> dict:
    """The JSON payloads of one dataset: verdicts, findings, interactions and their details."""
    alpha, limit, ds = compare.fdr_alpha, report_settings.table_rows, section.key
    findings = findings_rows(section.results, alpha)
    verdicts = (verdict_rows(section.verdicts, records) if section.verdicts is not None
                else pd.DataFrame())
    network = interaction_rows(section.network, alpha) if section.network is not None else pd.DataFrame()
    activities = (activity_rows(section.activities, alpha) if section.activities is not None
                  else pd.DataFrame())
    tables = {
        "verdicts": explore.table_payload(
            f"{ds}-verdicts", "evidence verdicts", verdicts, VERDICT_COLUMNS, limit=limit,
            significance={"key": "informative", "label": "hide 'no change' and 'not testable'"},
            details=VERDICT_DETAILS, note="reason"),
        "findings": explore.table_payload(
            f"{ds}-findings", "donor-level tests", findings, FINDING_COLUMNS, limit=limit,
            significance={"key": "significant", "label": f"BH-FDR < {alpha} only"},
            details=FINDING_DETAILS),
        "interactions": explore.table_payload(
            f"{ds}-interactions", "sender \u2192 receiver interactions", network, INTERACTION_COLUMNS,
            limit=limit, significance={"key": "significant", "label": f"BH-FDR < {alpha} only"}),
        "activities": explore.table_payload(
            f"{ds}-activities", "joint activities of the response programs", activities,
            ACTIVITY_TABLE_COLUMNS, limit=limit,
            significance={"key": "significant", "label": f"BH-FDR < {alpha} only"}),
    }
    tables["verdicts"]["significance_default"] = True
    strata = set()
    for frame, specs in ((verdicts.head(limit), VERDICT_DETAILS), (findings.head(limit), FINDING_DETAILS)):
        for spec in specs:
            if len(frame) and spec.cell in frame and spec.signature in frame:
                strata |= {explore.stratum_key(t, c, s) for t, c, s in zip(
                    frame["tissue"], frame[spec.cell], frame[spec.signature], strict=True)
                    if isinstance(c, str) and isinstance(s, str)}
    details = {**explore.donor_payload(section.donor_values, strata, compare.min_cells_per_donor),
               "genes": explore.gene_payload(section.genes),
               "coverage": explore.coverage_payload(section.coverage)}
    return {"tables": {k: explore.script_json(v) for k, v in tables.items()},
            "details": explore.script_json(details),
            "n_rows": {k: (len(v["rows"]), v["total"]) for k, v in tables.items()}}


def render_section(section: DatasetSection, axes: Mapping[str, Axis], compare: CompareSettings,
                   report_settings: ReportSettings, records: pd.DataFrame) -> dict:
    """Everything one dataset section of the template needs, computed from its tables."""
    alpha = compare.fdr_alpha
    tested = section.results[section.results["status"] == "tested"]
    net = section.network if section.network is not None else pd.DataFrame(columns=nw.NETWORK_COLUMNS)
    net_tested = net[net["status"] == "tested"]
    recovery = network_recovery = None
    n_network_false = None
    if section.truth is not None:
        recovery = _records(evaluation.recovery_table(section.truth, section.results, alpha))
        if "genes_moved" in section.truth.columns:
            network_recovery = _records(evaluation.network_recovery(section.truth, net, axes, alpha))
            n_network_false = len(evaluation.network_false_positives(section.truth, net, axes, alpha))
    downloads = [("signature_tests.tsv.gz", "donor-level comparisons", table_uri(section.results))]
    if section.verdicts is not None:
        downloads.append(("verdicts.tsv.gz", "evidence verdicts", table_uri(section.verdicts)))
    if section.network is not None:
        downloads.append(("interaction_tests.tsv.gz", "sender \u2192 receiver tests", table_uri(net)))
    if section.evidence is not None:
        downloads.append(("evidence.tsv.gz", "evidence layers per axis and cell type",
                          table_uri(section.evidence)))
    if section.activities is not None:
        downloads.append(("activity_tests.tsv.gz", "joint activities of the response programs",
                          table_uri(section.activities)))
    if section.genes is not None:
        downloads.append(("finding_genes.tsv.gz", "genes driving the top findings", table_uri(section.genes)))
    verdicts = section.verdicts if section.verdicts is not None else pd.DataFrame(
        columns=vd.VERDICT_COLUMNS)
    counts = vd.verdict_counts(verdicts) if len(verdicts) else pd.DataFrame()
    figures = dict(section.figures)
    verdict_png = figures.pop("verdicts", None)
    entry = dict(section.registry)
    return {
        "id": section.key, "label": section.label, "dataset": section.dataset_id,
        "level": section.level, "title": section.title, "citation": section.citation,
        "synthetic": section.synthetic,
        "references": [str(r) for r in entry.get("references", [])],
        "accession": str(entry.get("accession", "")), "licence": str(entry.get("licence", "")),
        "donors": donor_summary(section.cell_counts),
        "n_tests": len(tested), "n_not_tested": int((section.results["status"] != "tested").sum()),
        "n_significant": int((tested["fdr"] < alpha).sum()),
        "n_interactions": len(net_tested),
        "n_interactions_significant": int((net_tested["fdr"] < alpha).sum()),
        "n_interactions_supported": int(((net_tested["fdr"] < alpha) & (
            net_tested.get("supported", pd.Series("", index=net_tested.index)).astype(str) == "yes")).sum()),
        "verdict_totals": {v: int((verdicts["verdict"] == v).sum()) for v in vd.VERDICTS},
        "verdict_counts": _records(counts),
        "verdict_axes": sorted({(str(a), str(c)) for a, c, v in zip(
            verdicts["axis"], verdicts["case"], verdicts["verdict"], strict=True)
            if v not in ("no_change", "not_testable")}),
        "verdict_figure": _figures({"verdicts": verdict_png})[0] if verdict_png is not None else None,
        "explore": explorable_section(section, records, compare, report_settings),
        "qc": section.qc_steps.groupby(["order", "step"], sort=True)["cells_kept"].sum()
              .reset_index().to_dict("records"),
        "figures": _figures(figures),
        "downloads": [{"file": f"{section.key}_{name}", "label": label, "uri": uri}
                      for name, label, uri in downloads],
        "recovery": recovery, "network_recovery": network_recovery, "n_network_false": n_network_false,
        "no_comparison": comparison_gaps(section.results, section.cell_counts, compare.contrasts),
    }


def _observed_text(row: object) -> str:
    """'response in mono_classical: g = 3.87, FDR 1.1e-09' (blank when nothing was measured)."""
    if str(row.observed_cell_type or "") in ("", "nan"):
        return ""
    g, fdr = _number(row.observed_hedges_g, ".2f"), _number(row.observed_fdr, ".2g")
    return f"{row.observed_module} in {row.observed_cell_type}: g = {g}, FDR {fdr}"


def _combined(sections: Sequence[DatasetSection], name: str) -> pd.DataFrame | None:
    """One table of all datasets (None when no dataset has it)."""
    frames = [getattr(s, name) for s in sections if getattr(s, name) is not None]
    return pd.concat(frames, ignore_index=True) if frames else None


def render_report(*, title: str, sections: Sequence[DatasetSection], axes: Mapping[str, Axis],
                  config: Mapping, compare: CompareSettings, network: NetworkSettings,
                  scoring: ScoringSettings | None, report_settings: ReportSettings,
                  resource_checksums: Mapping[str, str], cross: CrossDataset | None = None,
                  reference_provenance: pd.DataFrame | None = None,
                  output_checksums: Mapping[str, str] | None = None,
                  template_dir: Path = TEMPLATES) -> str:
    """Render the report HTML; every label from data is escaped by Jinja's autoescape, and the
    explorable tables' JSON escapes '<', '>' and '&' (the page's script only sets text)."""
    alpha = compare.fdr_alpha
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(template_dir),
                                     autoescape=True, undefined=jinja2.StrictUndefined,
                                     keep_trailing_newline=True)
    environment.filters["num"] = _number
    records = therapy.therapy_records(axes)
    rendered = [render_section(s, axes, compare, report_settings, records) for s in sections]
    all_results = pd.concat([s.results for s in sections], ignore_index=True) if sections else None
    key_findings = (_records(top_findings(all_results, records, alpha, limit=12))
                    if all_results is not None else [])
    therapy_frame = cross.therapy if cross is not None else pd.DataFrame()
    # A meta-analysis of one dataset only repeats it (every row 'single_dataset'): not embedded.
    meta = cross.meta if cross is not None else None
    pooled = meta is not None and "status" in meta.columns and bool((meta["status"] == "tested").any())
    paradoxes = therapy_frame[therapy_frame["paradox"].astype(bool)] if len(therapy_frame) else therapy_frame
    for section in rendered:
        wanted = set(section["verdict_axes"])
        section["verdict_therapy"] = _records(therapy_frame[[
            (str(a), str(d)) in wanted for a, d in zip(therapy_frame["axis"], therapy_frame["disease"],
                                                      strict=True)]]) if len(therapy_frame) else []
    therapy_json = None
    if len(therapy_frame):
        shown = therapy_frame.assign(observed=[_observed_text(r)
                                               for r in therapy_frame.itertuples(index=False)])
        therapy_json = explore.script_json(explore.table_payload(
            "therapy", "therapy outcomes", shown, THERAPY_TABLE_COLUMNS, limit=len(shown)))
    methods_text = methods.methods_paragraphs(
        results=all_results if all_results is not None else pd.DataFrame(columns=["status"]),
        network=_combined(sections, "network"), verdicts=_combined(sections, "verdicts"),
        compare_settings=compare, network_settings=network, scoring=scoring,
        genes_shown=any(s.genes is not None and len(s.genes) for s in sections),
        synthetic=any(s.synthetic for s in sections),
        depths={s.dataset_id: s.depth for s in sections if s.depth is not None})
    return environment.get_template("report.html").render(
        title=title, sections=rendered, alpha=alpha, key_findings=key_findings,
        any_synthetic=any(s.synthetic for s in sections), synthetic_label=SYNTHETIC_LABEL,
        cross_figures=_figures(cross.figures) if cross is not None else [],
        therapy=_records(therapy_frame), paradoxes=_records(paradoxes), therapy_json=therapy_json,
        therapy_uri=table_uri(therapy_frame) if len(therapy_frame) else None,
        meta_uri=table_uri(cross.meta) if pooled else None,
        has_meta=pooled, methods=methods_text, verdict_names=vd.VERDICTS,
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
