# The curated resources every stage reads, and their check. Rules reading them, and rule
# load_dataset, also wait for rule check_curated, which validates them (schema, citations, every
# gene symbol against the reference gene universe) once per run, so a bad resource stops the run
# before any expensive job. ancient(): only the order matters, so re-running the check never
# re-runs a job (an edited axis re-runs its readers through the axis file itself).
AXES_DIR = repo_path(config["resources"]["signatures"])
# A user's own axes directory may bring its own allow-list (resources/signatures layout).
_USER_ALLOWLIST = AXES_DIR.parent / "gene_allowlist.tsv"
CURATED_ALLOWLIST = (_USER_ALLOWLIST if _USER_ALLOWLIST.is_file()
                     else REPO / "resources/signatures/gene_allowlist.tsv")
CURATED_FILES = {
    "axes": sorted(str(p) for p in AXES_DIR.glob("*.yaml")),
    "axis_schema": str(REPO / "resources/schemas/axis.schema.yaml"),
    "cell_types": str(repo_path(config["resources"]["cell_types"])),
    "cell_types_schema": str(REPO / "resources/schemas/cell_types.schema.yaml"),
}
CURATED = {**CURATED_FILES, "checked": ancient(paths.CURATED_GENES)}


# Local: a few seconds of work that every other job waits for.
rule check_curated:
    input:
        **CURATED_FILES,
        allowlist=str(CURATED_ALLOWLIST),
    output:
        genes=paths.CURATED_GENES,
    params:
        # The configured directory itself, so an empty one is reported rather than skipped.
        axes_dir=lambda wildcards, input: str(AXES_DIR),
    log:
        paths.log("check_curated", "all"),
    benchmark:
        paths.benchmark("check_curated", "all")
    localrule: True
    threads: 1
    resources:
        mem_mb=mem_mb(per_input_mb=20, minimum_mb=1000),
        runtime=runtime_min(per_input_mb=0.5, minimum_min=5),
    conda:
        "../../envs/neurokine.yaml"
    script:
        "../../scripts/check_curated.py"
