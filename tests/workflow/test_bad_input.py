"""Bad input fails clearly: the real `snakemake` command on 29 broken inputs.

Every case must
- exit non-zero, before any expensive stage (config and registry problems before any job
  runs; resource problems in the first job, check_curated, which every data job waits for;
  data problems in the first job that reads the data, load_dataset);
- print a message naming the file, the field or key, and how to fix it (`Fix:`);
- leave no partial output under results/: no output of the failing job, no temporary file,
  nothing from a later stage.

User data cases register a local `.h5ad` in a temporary registry (`path:`), as a user would
(config/README.datasets.md), and run the whole workflow. A control case checks that the
unbroken file loads, so each failure comes from the one thing its case breaks.

A single donor per group is not bad input: a dataset in which no disease group has two donors
loads with a warning and gets a descriptive run (tests/workflow/test_descriptive.py); when only
some groups have a single donor, their contrasts become `not_tested` rows with the reason
(compare.min_donors_per_arm), see tests/unit/test_checks.py.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import yaml
from fixtures.workflow import (
    FAST_DEMO_CONFIGS,
    REPO,
    files_under,
    outputs_of,
    run_workflow,
    tail,
    temp_debris,
)

pytestmark = pytest.mark.workflow

DATASET = "user_csf"
GENES = ["CD14", "LYZ", "S100A8", "S100A9", "VCAN", "FCN1", "CD3E", "CD4", "IL7R", "S100A4",
         "ANXA1", "CD40LG", "TNF", "TNFRSF1A", "TNFRSF1B", "TNFAIP3", "NFKBIA", "IL1B", "IL6",
         "IFNG", "STAT1", "IRF1", "ISG15", "MX1", "ACTB", "GAPDH", "MT-CO1", "MT-ND1"]
#: Files a job-time case may leave: complete outputs of the resource check, which runs first.
CHECK_OUTPUTS = {"resources/curated_genes.tsv", "benchmarks/check_curated/all.tsv"}


# ------------------------------------------------------------------------------- user data


def good_cohort() -> ad.AnnData:
    """A small, valid user cohort: 6 donors (3 healthy, 3 RRMS), two cell types, raw counts."""
    rng = np.random.default_rng(3)
    donors = np.repeat([f"P{i}" for i in range(1, 7)], 40)
    obs = pd.DataFrame({
        "patient": donors,
        "library": [f"{d}_L1" for d in donors],
        "diagnosis": np.where(np.isin(donors, ["P1", "P2", "P3"]), "healthy", "RRMS"),
        "celltype": np.tile(["CD14 Mono", "CD4 TCM"], len(donors) // 2),
    }, index=[f"cell{i}" for i in range(len(donors))])
    counts = rng.poisson(3.0, size=(len(obs), len(GENES))).astype(np.int32)
    return ad.AnnData(X=sp.csr_matrix(counts), obs=obs, var=pd.DataFrame(index=GENES))


def registry_entry(path: Path) -> dict:
    """The registry entry a user writes for the cohort (see config/datasets.yaml)."""
    return {
        "title": "My CSF cohort", "loader": "h5ad", "tissue": ["CSF"],
        "citation": "unpublished", "licence": "internal",
        "files": [{"name": "cohort.h5ad", "role": "h5ad", "path": str(path)}],
        "layout": {"counts": "auto"},
        "metadata": {"columns": {"donor": "patient", "sample": "library",
                                 "disease": "diagnosis", "cell_type": "celltype"},
                     "constants": {"tissue": "CSF"}},
        "disease_map": {"healthy": "control", "RRMS": "MS"},
        "cell_types": {"map": {"CD14 Mono": "mono_classical", "CD4 TCM": "CD4_T_memory"},
                       "annotate": "none"},
    }


def _with_x(matrix) -> Callable[[ad.AnnData], ad.AnnData]:
    def change(adata: ad.AnnData) -> ad.AnnData:
        adata.X = matrix(adata)
        return adata
    return change


def _float_x(adata: ad.AnnData) -> sp.csr_matrix:
    x = adata.X.astype(np.float32)
    x.data = np.log1p(x.data)  # log-normalized, as many published objects ship
    return x


def _x_with(value: float) -> Callable[[ad.AnnData], sp.csr_matrix]:
    def matrix(adata: ad.AnnData) -> sp.csr_matrix:
        x = adata.X.astype(np.float32)
        x.data[7] = value
        return x
    return matrix


def _drop_obs(column: str) -> Callable[[ad.AnnData], ad.AnnData]:
    def change(adata: ad.AnnData) -> ad.AnnData:
        adata.obs = adata.obs.drop(columns=column)
        return adata
    return change


def _set_obs(column: str, rows: slice, value: str) -> Callable[[ad.AnnData], ad.AnnData]:
    def change(adata: ad.AnnData) -> ad.AnnData:
        values = adata.obs[column].astype(str).to_numpy().copy()
        values[rows] = value
        adata.obs[column] = values
        return adata
    return change


def _duplicate_genes(adata: ad.AnnData) -> ad.AnnData:
    names = list(adata.var_names)
    names[5] = names[4]  # "FCN1" becomes a second "VCAN"
    adata.var_names = names
    return adata


def _ensembl_only(adata: ad.AnnData) -> ad.AnnData:
    adata.var_names = [f"ENSG{i:011d}" for i in range(1, adata.n_vars + 1)]
    return adata


# ---------------------------------------------------------------------------------- cases


@dataclasses.dataclass(frozen=True)
class Case:
    """One broken input, how to build it, and what the message must name."""

    name: str
    expect: tuple[str, ...]  # fragments of the message ({h5ad}/{registry}/{axes} filled in)
    stage: str  # "parse": before any job; "load": in load_dataset; "check": in check_curated
    config: dict = dataclasses.field(default_factory=dict)  # overlay keys
    cli: tuple[str, ...] = ()  # --config key=value items
    data: Callable[[ad.AnnData], ad.AnnData] | None = None
    raw_bytes: Callable[[bytes], bytes] | None = None
    entry: Callable[[dict], None] | None = None  # edits the registry entry in place
    extra_registry: dict | None = None
    axes: Callable[[Path], None] | None = None  # edits a copy of the axes directory
    demo: bool = False  # run on the simulated demo instead of the user dataset
    # Data cases ask for the loaded dataset only (the stage that must refuse it), which keeps
    # the suite fast; h5ad_truncated runs the default target, as a user would.
    whole_workflow: bool = False


def _files0(**spec) -> Callable[[dict], None]:
    def change(entry: dict) -> None:
        entry["files"] = [{"name": "cohort.h5ad", "role": "h5ad", **spec}]
    return change


def _edit_axis(edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def change(axes_dir: Path) -> None:
        path = axes_dir / "TNF.yaml"
        record = yaml.safe_load(path.read_text())
        edit(record)
        path.write_text(yaml.safe_dump(record, sort_keys=False))
    return change


def _unknown_gene(record: dict) -> None:
    record["ligands"][0]["genes"].append("NOTAGENE1")


def _no_citation(record: dict) -> None:
    del record["ligands"][0]["citations"]


def _set_key(key: str, value) -> Callable[[dict], None]:
    def change(entry: dict) -> None:
        entry[key] = value
    return change


COMPARE = yaml.safe_load((REPO / ".test/config/config.yaml").read_text())["compare"]
QC = yaml.safe_load((REPO / "config/config.yaml").read_text())["qc"]

CASES = [
    # config: checked against workflow/schemas/config.schema.yaml before any job
    Case("config_unknown_key", ("colour: unknown key", "allowed keys:", "Fix:"), "parse",
         cli=("colour=red",), demo=True),
    Case("config_wrong_type", ("qc.min_counts", "'lots' is not of type 'integer'", "Fix:"),
         "parse", config={"qc": {**QC, "min_counts": "lots"}}, demo=True),
    Case("config_contrast_missing_group",
         ("compare.contrasts[2].case", "'ICANS' is in none of the selected datasets", "Fix:"),
         "parse", config={"compare": {**COMPARE, "contrasts": [
             *COMPARE["contrasts"], {"case": "ICANS", "reference": "control"}]}}, demo=True),
    Case("config_seed_negative", ("seed:", "minimum 0", "Fix:"), "parse", cli=("seed=-5",),
         demo=True),
    Case("config_seed_too_large", ("seed:", "maximum 4294967295", "Fix:"), "parse",
         cli=("seed=4294967296",), demo=True),
    Case("config_dataset_id_traversal", ("datasets[0]", "does not match", "Fix:"), "parse",
         cli=("datasets=['../etc']",), demo=True),
    # registry: checked against workflow/schemas/datasets.schema.yaml before any job
    Case("registry_id_traversal", ("{registry}", "'../evil' (dataset id)", "not allowed",
                                   "Fix:"), "parse",
         extra_registry={"../evil": {"title": "x"}}),
    Case("registry_id_shell", ("{registry}", "(dataset id)", "not allowed", "Fix:"), "parse",
         extra_registry={"x$(touch PWNED);rm": {"title": "x"}}),
    Case("registry_missing_url", ("{registry}", f"{DATASET}.files.0", "Fix:"), "parse",
         entry=_files0()),
    Case("registry_unknown_loader", ("{registry}", f"{DATASET}.loader", "'seurat_rds'", "Fix:"),
         "parse", entry=_set_key("loader", "seurat_rds")),
    Case("registry_malformed_checksum", ("{registry}", f"{DATASET}.files.0.sha256",
                                         "'not-a-checksum'", "Fix:"), "parse",
         entry=_files0(url="https://example.org/cohort.h5ad", sha256="not-a-checksum")),
    Case("registry_plain_http", ("{registry}", f"{DATASET}.files.0.url", "https", "Fix:"),
         "parse", entry=_files0(url="http://example.org/cohort.h5ad")),
    # h5ad: refused by the load_dataset job, before anything is written
    Case("h5ad_truncated", ("{h5ad}", "file", "cannot be read", "Fix:"), "load",
         raw_bytes=lambda b: b[: len(b) // 2], whole_workflow=True),
    Case("h5ad_corrupt", ("{h5ad}", "file", "cannot be read", "Fix:"), "load",
         raw_bytes=lambda b: b"\x89HDF\r\n" + bytes(range(256)) * 64),
    Case("h5ad_missing_donor_column", ("{h5ad}", "metadata.columns.donor", "['patient'] not found",
                                       "Fix:"), "load", data=_drop_obs("patient")),
    Case("h5ad_missing_disease_column", ("{h5ad}", "metadata.columns.disease",
                                         "['diagnosis'] not found", "Fix:"), "load",
         data=_drop_obs("diagnosis")),
    Case("h5ad_float_matrix", ("{h5ad}", "X / raw.X", "non-integer", "layout.counts", "Fix:"),
         "load", data=_with_x(_float_x)),
    Case("h5ad_negative_values", ("{h5ad}", "X / raw.X", "negative", "Fix:"), "load",
         data=_with_x(_x_with(-3.0))),
    Case("h5ad_nan", ("{h5ad}", "X / raw.X", "NaN or infinite", "nan", "Fix:"), "load",
         data=_with_x(_x_with(np.nan))),
    Case("h5ad_inf", ("{h5ad}", "X / raw.X", "NaN or infinite", "inf", "Fix:"), "load",
         data=_with_x(_x_with(np.inf))),
    Case("h5ad_duplicated_gene_names", ("{h5ad}", "var_names", "'VCAN'", "Fix:"), "load",
         data=_duplicate_genes),
    Case("h5ad_ensembl_only_gene_ids", ("{h5ad}", f"{DATASET}.layout.gene_symbols",
                                        "Ensembl ids", "Fix:"), "load", data=_ensembl_only),
    Case("h5ad_empty_cell_type", ("{h5ad}", "obs column 'celltype'", "empty cell_type label",
                                  "Fix:"), "load", data=_set_obs("celltype", slice(0, 5), "")),
    Case("h5ad_unknown_disease_label", ("{h5ad}", f"{DATASET}.disease_map", "'SPMS'",
                                        "obs column 'diagnosis'", "Fix:"), "load",
         data=_set_obs("diagnosis", slice(200, 240), "SPMS")),
    Case("h5ad_very_long_label", ("{h5ad}", "obs.donor_id", "300 characters long", "Fix:"),
         "load", data=_set_obs("patient", slice(0, 40), "P" * 300)),
    Case("h5ad_markup_label", ("{h5ad}", "obs.donor_id", "markup", "<script>", "Fix:"),
         "load", data=_set_obs("patient", slice(0, 40), "<script>alert(1)</script>")),
    # signatures: refused by check_curated, the first job
    Case("signature_unknown_gene", ("{axes}/TNF.yaml", "TNF.ligands.0.genes.1", "'NOTAGENE1'",
                                    "Fix:"), "check", axes=_edit_axis(_unknown_gene)),
    Case("signature_axis_without_citation", ("{axes}/TNF.yaml", "TNF.ligands.0.citations",
                                             "missing citation", "Fix:"), "check",
         axes=_edit_axis(_no_citation)),
]


# ---------------------------------------------------------------------------------- running


def prepare_case(case: Case | None, root: Path) -> tuple[list[Path], dict[str, str], tuple]:
    """Write the case's files under root; return config files, placeholders and --config items."""
    root.mkdir(parents=True)
    h5ad = root / "data" / "cohort.h5ad"
    h5ad.parent.mkdir()
    adata = good_cohort()
    if case and case.data:
        adata = case.data(adata)
    adata.write_h5ad(h5ad)
    if case and case.raw_bytes:
        h5ad.write_bytes(case.raw_bytes(h5ad.read_bytes()))
    entry = registry_entry(h5ad)
    if case and case.entry:
        case.entry(entry)
    registry = root / "registry.yaml"
    records = {DATASET: entry, **((case.extra_registry or {}) if case else {})}
    registry.write_text(yaml.safe_dump(records, sort_keys=False))
    axes = REPO / "resources/signatures/axes"
    overlay: dict = {}
    if case and case.axes:
        axes = root / "signatures" / "axes"
        shutil.copytree(REPO / "resources/signatures/axes", axes)
        case.axes(axes)
        overlay["resources"] = {"signatures": str(axes),
                                "cell_types": "resources/cell_types.yaml"}
    if not (case and case.demo):
        overlay |= {"datasets": [DATASET], "registry": str(registry),
                    "compare": {**COMPARE, "contrasts": [{"case": "MS", "reference": "control"}]}}
    overlay |= case.config if case else {}
    config = root / "overlay.yaml"
    config.write_text(yaml.safe_dump(overlay, sort_keys=False))
    placeholders = {"{h5ad}": str(h5ad), "{registry}": str(registry), "{axes}": str(axes)}
    return [*FAST_DEMO_CONFIGS, config], placeholders, case.cli if case else ()


def run_case(case: Case, root: Path) -> dict:
    """Build and run one case; return what the test checks."""
    configfiles, placeholders, cli = prepare_case(case, root)
    workdir = root / "work"
    extra = ("--config", *cli) if cli else ()
    if case.stage == "load" and not case.whole_workflow:
        extra = (f"results/loaded/{DATASET}.h5ad", *extra)
    run = run_workflow(workdir, *extra, configfiles=configfiles, timeout=600)
    return {"run": run, "workdir": workdir, "placeholders": placeholders,
            "pwned": list(root.rglob("PWNED")) + list(REPO.glob("PWNED"))}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, dict]:
    """Every case run once, two at a time (each run is mostly Python start-up)."""
    root = tmp_path_factory.mktemp("bad_input")
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {case.name: pool.submit(run_case, case, root / case.name) for case in CASES}
        return {name: future.result() for name, future in futures.items()}


def test_suite_covers_at_least_twenty_cases():
    names = [case.name for case in CASES]
    assert len(names) == len(set(names)) >= 20
    for prefix in ("config_", "registry_", "h5ad_", "signature_"):
        assert any(n.startswith(prefix) for n in names), prefix


def test_unbroken_user_dataset_loads(tmp_path):
    configfiles, _, _ = prepare_case(None, tmp_path / "control")
    workdir = tmp_path / "control" / "work"
    run = run_workflow(workdir, f"results/loaded/{DATASET}.h5ad", configfiles=configfiles)
    assert run.returncode == 0, tail(outputs_of(run))
    loaded = ad.read_h5ad(workdir / f"results/loaded/{DATASET}.h5ad")
    assert loaded.obs["donor_id"].nunique() == 6
    assert set(loaded.obs["disease"]) == {"control", "MS"}


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_fails_early_and_clearly(case, outcomes):
    outcome = outcomes[case.name]
    run, workdir = outcome["run"], outcome["workdir"]
    log = outputs_of(run)
    assert run.returncode != 0, tail(log)
    for fragment in case.expect:
        for placeholder, value in outcome["placeholders"].items():
            fragment = fragment.replace(placeholder, value)
        assert fragment in log, f"{fragment!r} not in the output:\n{tail(log, 6000)}"
    assert outcome["pwned"] == [], "a dataset id was executed by a shell"

    results = workdir / "results"
    left = set(files_under(results))
    if case.stage == "parse":
        assert not results.exists(), sorted(left)  # no job ran at all
    elif case.stage == "load":
        assert "Error in rule load_dataset" in log, tail(log)
        assert left <= CHECK_OUTPUTS, sorted(left)
    else:
        assert "Error in rule check_curated" in log, tail(log)
        assert left == set(), sorted(left)  # every data job waits for the check
    if results.exists():
        assert temp_debris(results) == []
