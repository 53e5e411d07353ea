"""Rule fetch_dataset: download (or verify) one dataset's files and write its manifest."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "a", buffering=1)  # noqa: SIM115 (lives as long as the job)

from neurokine.io.fetch import FetchError, FetchOptions, fetch_dataset, write_manifest


def log(message: str) -> None:
    """Progress and decisions go to the rule's log file."""
    print(message, file=sys.stderr, flush=True)


try:
    manifest = fetch_dataset(
        snakemake.wildcards.dataset,
        snakemake.params.entry,
        lock_path=snakemake.params.lock_file,
        # resources/downloads/<dataset>/MANIFEST.tsv -> resources/downloads
        root=Path(snakemake.output.manifest).parent.parent,
        options=FetchOptions.from_settings(snakemake.params.fetch),
        log=log,
    )
except FetchError as exc:
    # Also on the console: this is the message telling the user how to proceed offline.
    log(str(exc))
    print(f"\nneurokine fetch failed: {exc}\n", file=sys.__stderr__, flush=True)
    sys.exit(1)
write_manifest(manifest, snakemake.output.manifest)
log(f"manifest: {len(manifest)} file(s) -> {snakemake.output.manifest}")
