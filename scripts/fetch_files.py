"""Rule fetch_dataset: download (or verify) one dataset's files and write its manifest."""

import sys

sys.stderr = open(snakemake.log[0], "a", buffering=1)  # noqa: SIM115 (lives as long as the job)

from neurokine.fetch import FetchOptions, fetch_dataset, write_manifest  # noqa: E402


def log(message: str) -> None:
    """Progress and decisions go to the rule's log file."""
    print(message, file=sys.stderr, flush=True)


manifest = fetch_dataset(
    snakemake.wildcards.dataset,
    snakemake.params.entry,
    lock_path=snakemake.params.lock_file,
    root=snakemake.params.root,
    options=FetchOptions(**snakemake.params.options),
    log=log,
)
write_manifest(manifest, snakemake.output.manifest)
log(f"manifest: {len(manifest)} file(s) -> {snakemake.output.manifest}")
