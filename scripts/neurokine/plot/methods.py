"""The report's Methods, written from the tests that actually ran (not a fixed description).

Each paragraph is built from the result tables (which test produced each p-value, which designs
occurred, whether permutation p-values and bootstrap intervals exist, which covariates entered)
and the settings of the run, so a run that used only exact permutation tests says so.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from neurokine.settings import CompareSettings, NetworkSettings, ScoringSettings
from neurokine.stats import compare
from neurokine.stats.drivers import MEASURE as GENE_MEASURE

#: What each scoring method computes per cell (scoring.method).
SCORING_METHODS = {
    "mean": ("the mean expression of its genes minus the mean of expression-matched control genes "
             "(scanpy's score_genes definition; {ctrl_size} control genes per gene from {n_bins} "
             "expression bins{pool})"),
    "weighted": ("the t-value of a univariate linear model of the cell's expression on the gene "
                 "weights (decoupler's ulm)"),
    "ucell": ("a rank-based Mann-Whitney U statistic of its genes among the cell's top {max_rank} "
              "genes (UCell)"),
}


def _count(n: int, noun: str) -> str:
    """'1 test' / '3 tests'."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def scoring_paragraph(scoring: ScoringSettings | None, compare_settings: CompareSettings) -> str:
    """How modules were scored and aggregated per donor."""
    if scoring is None:
        how = "with the configured scoring method"
    else:
        template = SCORING_METHODS.get(scoring.method, f"with scoring method '{scoring.method}'")
        pool = (", drawn from genes of no scored signature" if scoring.control_pool == "background"
                else "")
        how = "as " + template.format(ctrl_size=scoring.ctrl_size, n_bins=scoring.n_bins,
                                      max_rank=scoring.ucell_max_rank, pool=pool)
    coverage = (f" Signatures with less than {scoring.min_gene_coverage:.0%} of their genes in the data "
                "were not scored." if scoring is not None else "")
    return (f"Each cytokine axis has three gene modules (ligand, receptor, response); each module was "
            f"scored per cell {how}, and the scores were averaged per donor and cell type (cell-weighted "
            f"over a donor's samples). Donor x cell-type groups with fewer than "
            f"{compare_settings.min_cells_per_donor} cells were excluded, and a cell type with fewer "
            f"than {compare_settings.min_donors_per_arm} donors in an arm is reported as not tested, "
            f"with the reason.{coverage}")


def depth_paragraph(depths: Mapping[str, pd.DataFrame]) -> str:
    """Whether and how far each dataset's samples were thinned to a common depth before scoring."""
    if not depths:
        return ""
    equalized = {d: t for d, t in sorted(depths.items())
                 if np.isfinite(t["target_total_counts"].astype(float)).any()}
    if not equalized:
        return ("Cells were scored on their own depth (normalize.equalize_depth: false): a depth "
                "difference between groups can read as a disease difference of mean scores.")
    parts = []
    for dataset, table in equalized.items():
        kept = table.loc[table["cells_kept"] > 0, "keep_fraction"].astype(float)
        parts.append(f"{dataset}: {float(table['target_total_counts'].iloc[0]):,.0f} counts per cell, "
                     f"samples kept {kept.min():.0%} to {kept.max():.0%} of their counts")
    return ("Before scoring, each sample's counts were thinned binomially (one seeded stream per "
            "sample) to the shallowest sample's median total counts, because per-cell scores of "
            "log-normalized values change with depth and a depth difference between groups would "
            "otherwise read as a disease effect (" + "; ".join(parts) + "). Scores use the thinned "
            "counts; pseudobulk expression (log-CPM, TMM-normalized within each cell type) and "
            "detection rates use the raw counts.")


def tests_paragraph(results: pd.DataFrame, compare_settings: CompareSettings) -> str:
    """Which tests produced the reported p-values, with counts from the results."""
    tested = results[results["status"] == "tested"]
    if tested.empty:
        return "No comparison was tested in this run, so no p-value is reported."
    parts = []
    reasons = results.get("reason", pd.Series(dtype=str)).fillna("").astype(str)
    undetected = int(reasons.str.startswith(compare.UNDETECTED).sum())
    by_test = tested["test"].fillna("").value_counts()
    model = int(by_test.get(compare.TEST_NAME, 0))
    permutation = int(by_test.get(compare.PERMUTATION_TEST_NAME, 0))
    designs = tested["design"].fillna("").astype(str)
    paired = int(designs.str.startswith("paired").sum())
    unpaired = len(tested) - paired
    design = ", ".join(x for x in (
        _count(unpaired, "unpaired comparison") + " (case donors vs reference donors)" if unpaired else "",
        _count(paired, "paired comparison") + " (within-donor differences, donors in both arms)"
        if paired else "") if x)
    parts.append(f"{_count(len(tested), 'donor-level test')} were run: {design}.")
    if undetected:
        parts.append(
            f"{_count(undetected, 'signature x cell-type row')} "
            f"{'was' if undetected == 1 else 'were'} not tested because the "
            f"signature's genes were not detected (fewer than {compare_settings.min_donors_per_arm} "
            f"donors of either arm had {compare_settings.min_module_counts} counts of them in their "
            "pseudobulk): the score of an undetected module is its control genes' alone.")
    if model:
        prior = tested.loc[tested["test"] == compare.TEST_NAME, "df_prior"].astype(float)
        moderated = bool(np.isfinite(prior).any() and (prior[np.isfinite(prior)] > 0).any())
        parts.append(
            f"For {_count(model, 'test')} the reported p-value is from a linear model of one value per "
            "donor on disease (plus the covariates that entered, below)" + (
                ", its residual variance moderated by empirical Bayes across the tests of its "
                "module (limma-style; the prior weighs at most half the test's own residual "
                "degrees of freedom, because every test of a family shares the same donors)"
                if moderated else "") + "; the effect is the case-minus-reference "
            "difference of donor means and the 95% interval a t interval.")
    if permutation:
        parts.append(
            f"For {_count(permutation, 'test')} an arm had fewer than {compare.MIN_MODEL_DONORS} "
            "donors: the reported p-value is the exact permutation p-value over every donor labelling "
            "(sign flips when paired), which cannot be small; the model p-value is kept apart "
            "(p_value_model) and no interval is claimed.")
    perm = tested["perm_p_value"].astype(float)
    with_perm = int(np.isfinite(perm).sum())
    if with_perm:
        floors = tested.loc[np.isfinite(perm), "perm_p_floor"].astype(float)
        methods = sorted({str(m).split(" (")[0] for m in tested.loc[np.isfinite(perm), "perm_method"]
                          if isinstance(m, str)})
        parts.append(
            f"Beside it, {_count(with_perm, 'test')} carry a permutation p-value ({', '.join(methods)}; "
            f"arms of at most {compare_settings.permutation_max_arm} donors), whose smallest possible "
            f"value (its floor) was {floors.min():.2g} to {floors.max():.2g}: no finding from these "
            "donors can be more significant than its floor, whatever the model's FDR. The key "
            "findings show both.")
    else:
        parts.append("No permutation p-value was computed (every arm had more than "
                     f"{compare_settings.permutation_max_arm} donors, or permutations were off).")
    boot = tested[["boot_ci_low", "boot_ci_high"]].astype(float)
    n_boot = int(np.isfinite(boot.to_numpy()).all(axis=1).sum())
    if n_boot and compare_settings.n_bootstrap > 0:
        parts.append(f"{_count(n_boot, 'test')} also carry a bootstrap-t interval over donors "
                     f"({compare_settings.n_bootstrap:,} resamples of donors within arms, each "
                     "studentized by its own standard error), a check that does not rely on the model.")
    else:
        parts.append("No bootstrap interval was computed in this run.")
    covariates = sorted({c.strip() for cell in tested["covariates"].dropna().astype(str)
                         for c in cell.split(";") if c.strip() and ":" not in c and " " not in c})
    parts.append("Covariates in the model: " + (", ".join(covariates) if covariates else "none") + ".")
    parts.append(f"Effect sizes are Hedges' g. P-values were adjusted by Benjamini-Hochberg within each "
                 f"family of one dataset x contrast x tissue, across modules, axes and cell types; "
                 f"findings are called at BH-FDR < {compare_settings.fdr_alpha}.")
    return " ".join(parts)


def network_paragraph(network: pd.DataFrame | None, settings: NetworkSettings) -> str:
    """How interactions were defined, filtered and tested (empty when none was tested)."""
    if network is None or network.empty or not (network["status"] == "tested").any():
        return ("No sender \u2192 receiver interaction was tested (no pair passed the expression "
                "filters, or no comparison was possible).")
    n = int((network["status"] == "tested").sum())
    return (f"Per donor sample and cell type, the sender score of an axis is its ligand's mean "
            f"log-normalized expression (heteromeric ligands: minimum over subunits) and the receiver "
            f"score its receptor's (minimum over the subunits of a complex, maximum over alternative "
            f"complexes); the interaction score of a pair is their geometric mean. Pairs were tested "
            f"when the sender expresses the ligand in at least {settings.min_ligand_fraction} of its "
            f"cells in either arm (mean over that arm's donors, so a cytokine induced in one arm "
            f"counts) and at least {settings.min_receptor_fraction} of the receiver's cells carry "
            f"every subunit of a receptor complex themselves (mean over the donors of both arms). "
            f"{_count(n, 'interaction')} were tested with the same donor-level tests as above, one "
            f"BH-FDR family per dataset x contrast x tissue. Each interaction carries the receiver's "
            f"response (the same layer as the verdicts): an interaction is supported when it changed "
            f"and the receiver's response changed in the same direction; the others are marked "
            f"unsupported, not dropped.")


def verdict_paragraph(verdicts: pd.DataFrame | None, settings: NetworkSettings, alpha: float) -> str:
    """The verdict rules and the donor-agreement measures actually used."""
    if verdicts is None or verdicts.empty:
        return "No evidence verdict was made (no comparison in this run)."
    designs = sorted(verdicts["agreement_design"].dropna().astype(str).unique())
    sources = sorted(verdicts["response_source"].dropna().astype(str).unique())
    measure = "; ".join(designs) if designs else "not computed (no response was tested)"
    return (f"For each contrast, axis and receiving cell type the verdict combines four donor-level "
            f"layers. Ligand: the axis's ligand module changed at BH-FDR < {alpha} in an identified "
            f"sender (a cell type expressing the ligand in at least {settings.min_ligand_fraction} of "
            f"its cells in either arm). Receptor: the receiver expresses the receptor complex in at least "
            f"{settings.min_receptor_fraction} of its cells. Response: the receiver's response changed "
            f"at BH-FDR < {alpha} (source: {', '.join(sources) or 'none'}); where a joint activity was "
            f"estimated, a module change counts only when the axis's activity moved the same way at "
            f"p < {alpha}, and is called unspecific otherwise (its genes answered another axis). "
            f"Donors: the share of donors "
            f"following the response change (and the sender's ligand change), from the donor-level "
            f"values the tests used; measure used here: {measure}; ties count as not following. "
            f"Supported = all four hold in one direction with at least "
            f"{settings.min_donor_agreement:.0%} of donors following; contradicted = ligand and "
            f"response change in opposite directions, the response changes without the receptor, or "
            f"fewer than half the donors follow the response; partial = at least one of ligand or "
            f"response changed, with the missing layers named; no change = neither changed; not "
            f"testable = the response could not be tested (no response module, too few donors) or the "
            f"receptor was not measured.")


def genes_paragraph(genes_shown: bool) -> str:
    """How the genes driving a finding were computed."""
    if not genes_shown:
        return ""
    return (f"Genes driving a finding (shown when a finding is opened): for the findings the report "
            f"shows, each gene of the signature was tested like the signatures, on {GENE_MEASURE}; the "
            f"effect is the case-minus-reference difference of donor means of log2 CPM.")


def therapy_paragraph() -> str:
    """How the therapy panel weighs and flags clinical outcomes."""
    return ("For each axis with curated clinical data the observed signal is the direction of the "
            "significant ligand and response changes for a disease (up, down, mixed or none) and the "
            "strongest of them. Therapy entries are counted by outcome; each carries its evidence "
            "level (phase 3 RCT, phase 2, open-label or observational series, human genetics, phase 1, "
            "case report, animal model), which shades its colour. Only entries studied in the disease "
            "itself count for it; trials in pulmonary or cutaneous sarcoidosis, animal models or "
            "healthy volunteers are shown apart. A drug blocking several axes through a shared target "
            "(a JAK inhibitor, anti-p40) is credited to each and flagged; a withdrawn drug is shown as "
            "withdrawn with its reason. A paradox is flagged only where the data show a signal: "
            "blocking worsened disease or failed although the signal is up, adding the cytokine helped "
            "although it is up, or the same kind of intervention helped in one disease and harmed in "
            "another.")


def methods_paragraphs(*, results: pd.DataFrame, network: pd.DataFrame | None,
                       verdicts: pd.DataFrame | None, compare_settings: CompareSettings,
                       network_settings: NetworkSettings, scoring: ScoringSettings | None,
                       genes_shown: bool, synthetic: bool,
                       depths: Mapping[str, pd.DataFrame] | None = None) -> list[tuple[str, str]]:
    """(heading, text) of every Methods paragraph, from the tables of this run."""
    paragraphs = [
        ("Design: the donor is the unit of inference.",
         "Cells from one donor are not independent replicates, so every test in this report compares "
         "one value per donor (cell-weighted over a donor's samples in a tissue) between the donors of "
         "a disease and the donors of its reference group. No cell-level p-value is reported anywhere."),
        ("Depth.", depth_paragraph(depths or {})),
        ("Scores.", scoring_paragraph(scoring, compare_settings)),
        ("Tests.", tests_paragraph(results, compare_settings)),
        ("Networks.", network_paragraph(network, network_settings)),
        ("Evidence verdicts.", verdict_paragraph(verdicts, network_settings, compare_settings.fdr_alpha)),
        ("Genes.", genes_paragraph(genes_shown)),
        ("Therapy panel.", therapy_paragraph()),
    ]
    if synthetic:
        paragraphs.append(("Synthetic data.", "The demo cohort is simulated by neurokine (negative-"
                           "binomial counts for donors nested in disease groups, with planted effects "
                           "on named axis modules and cell types); its recovery tables compare the "
                           "results with that ground truth."))
    return [(h, t) for h, t in paragraphs if t]
